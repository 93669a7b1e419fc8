"""Shared fixtures: the real broker (Tansu) and the real databases (PostgreSQL and SQLite).

Nothing here skips: if PostgreSQL or the broker cannot be had, the tests fail and say why.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.broker import EmbeddedBroker, start_broker
from services.core.db import make_engine
from services.core.kafka import ensure_topics
from services.core.migrate import upgrade_async
from services.core.settings import Settings, load_settings
from tests.support.databases import TABLES, create_pg_database, drop_pg_database

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the whole session, on a free loopback port; killed at the end."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with start_broker(log_file=log) as running:
        yield running


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    url = await create_pg_database()
    try:
        await upgrade_async(url)
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file for this test session."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "surgewatch.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    return url


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, sqlite_url: str, pg_url: str
) -> AsyncIterator[str]:
    """Each test using this runs twice, on SQLite and on PostgreSQL, on emptied tables."""
    url = pg_url if request.param == "postgresql" else sqlite_url
    await _empty(url)
    yield url


async def _empty(url: str) -> None:
    engine = make_engine(load_settings(database_url=url), writer=True)
    try:
        async with engine.begin() as conn:
            for table in TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(load_settings(database_url=database_url), writer=True)
    yield engine
    await engine.dispose()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that keeps one test's topics and groups apart from every other test's."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_settings(broker: EmbeddedBroker, topic_prefix: str) -> Callable[..., Settings]:
    """Settings pointing at the session broker, with this test's own topics and groups."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap": broker.bootstrap,
            "topic_incidents": f"{topic_prefix}.incidents",
            "topic_accepted": f"{topic_prefix}.incidents.accepted",
            "topic_dlq": f"{topic_prefix}.incidents.dlq",
            "topic_alerts": f"{topic_prefix}.alerts",
            "ingest": {
                "group_id": f"{topic_prefix}-ingest",
                "session_timeout_ms": 1000,
                "heartbeat_interval_ms": 200,
            },
            "alerts": {
                "group_id": f"{topic_prefix}-alerts",
                "session_timeout_ms": 1000,
                "heartbeat_interval_ms": 200,
            },
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
async def topics(make_settings: Callable[..., Settings]) -> Settings:
    """Settings (SQLite-free: no database chosen) whose four topics exist on the broker."""
    settings = make_settings()
    await ensure_topics(settings)
    return settings
