"""`surgewatch api`: serve the api and the status page with uvicorn."""

from __future__ import annotations

import uvicorn

from services.api.app import create_app
from services.core.settings import Settings

GRACEFUL_SHUTDOWN_S = 5  # open event streams would otherwise hold a shutdown forever


def run(settings: Settings, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # keep surgewatch's logging (configured by the CLI)
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    import sys

    from services.core.logging import configure_logging
    from services.core.settings import load_settings

    loaded = load_settings()
    configure_logging(loaded.log_level, loaded.log_format)
    sys.exit(run(loaded, "0.0.0.0", 8000))
