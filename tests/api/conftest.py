"""Fixtures for the api: the app over a real database (both backends), with its lifespan run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from services.api.deps import ApiContext
from services.core.broker import free_port
from services.core.ops_server import start_server
from services.core.settings import load_settings
from tests.api.rows import Rows


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def context(self) -> ApiContext:
        context: ApiContext = self.app.state.context
        return context

    async def refresh(self) -> None:
        """What the background refresher does on its next poll, done now."""
        await self.context.refresher.refresh()


@contextlib.asynccontextmanager
async def serving(
    database_url: str, *, app_options: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[Api]:
    app = create_app(load_settings(database_url=database_url, **settings), **(app_options or {}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        yield Api(app, client)


@contextlib.asynccontextmanager
async def listening(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with a real uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server, task = await start_server(config)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def status_line(base_url: str, raw: bytes, within: float = 2.0) -> int | None:
    """Send `raw` (a request, perhaps with only part of its body) on a fresh connection and
    return the status the server answers within `within` s, or None if it answers nothing (it
    is waiting for the rest of the body)."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), within)
        return int(line.split()[1]) if line.startswith(b"HTTP/") else None
    except TimeoutError:
        return None
    finally:
        writer.transport.abort()


@pytest.fixture
def make_api(database_url: str) -> Callable[..., contextlib.AbstractAsyncContextManager[Api]]:
    """`async with make_api(api_keys="k") as api:` — the app with these settings."""

    def build(**settings: Any) -> contextlib.AbstractAsyncContextManager[Api]:
        return serving(database_url, **settings)

    return build


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(database_url) as running:
        yield running


@pytest.fixture
def rows(engine: AsyncEngine) -> Rows:
    return Rows(engine)
