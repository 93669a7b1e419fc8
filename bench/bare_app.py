"""The baseline of `bench.api_wrk`: a bare FastAPI route served as `surgewatch api` serves.

One route, GET /bare, answering fixed bytes (the picture's body, so both send the same
amount), on uvicorn with the same settings as `services.api.__main__.run` (one worker, proxy
headers, the same graceful-shutdown timeout) and the same logging set-up as the CLI's.

    python -m bench.bare_app --port 8001 --body FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Response

from services.api.__main__ import GRACEFUL_SHUTDOWN_S
from services.core.logging import configure_logging
from services.core.settings import load_settings


def create_app(body: bytes) -> FastAPI:
    app = FastAPI()

    @app.get("/bare")
    async def bare() -> Response:
        return Response(body, media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="the bytes to answer with")
    args = parser.parse_args()
    settings = load_settings()  # the same logging as `surgewatch api` (the CLI sets it up)
    configure_logging(settings.log_level, settings.log_format)
    config = uvicorn.Config(
        create_app(args.body.read_bytes()),
        host=args.host,
        port=args.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
