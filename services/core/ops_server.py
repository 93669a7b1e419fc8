"""/metrics and /healthz for the workers (ingest, alerts) on `SURGEWATCH_METRICS_PORT`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Health = Callable[[], tuple[bool, dict[str, Any]]]


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_server(config: uvicorn.Config) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Run `config` as a task in this loop; return once it listens (or has failed)."""
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn:{config.port}")
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # raises what stopped it (port in use, say)
        raise RuntimeError(f"server on port {config.port} stopped at start-up")
    return server, task


def ops_app(registry: CollectorRegistry, health: Health) -> Any:
    """A bare ASGI app: GET /metrics (Prometheus text) and GET /healthz (200 or 503, JSON)."""
    import orjson

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            status, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest(registry)
        elif path in ("/healthz", "/readyz"):
            ok, detail = health()
            status, ctype = (200 if ok else 503), "application/json"
            body = orjson.dumps({"status": "ok" if ok else "unhealthy", **detail})
        else:
            status, ctype, body = 404, "text/plain", b"not found\n"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"cache-control", b"no-cache")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def serve_ops(
    registry: CollectorRegistry, health: Health, port: int, host: str = "0.0.0.0"
) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start the ops server in the running loop; stop it with `server.should_exit = True`."""
    config = uvicorn.Config(
        ops_app(registry, health), host=host, port=port, log_level="warning", lifespan="off"
    )
    return await start_server(config)
