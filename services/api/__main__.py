"""`surgewatch api`: serve the api and the status page with uvicorn."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn

from services.api.app import create_app
from services.core.settings import Settings

GRACEFUL_SHUTDOWN_S = 5  # open event streams would otherwise hold a shutdown forever


class _Server(uvicorn.Server):
    """Uvicorn that treats SIGINT/SIGTERM as "stop gracefully, then exit 0".

    Stock uvicorn re-raises the signal once it has shut down, so the process dies of it.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stop = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stop}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(settings: Settings, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a graceful stop, 1 if the server failed to start."""
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # keep surgewatch's logging (configured by the CLI)
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = _Server(config)
    server.run()
    return 0 if server.started else 1
