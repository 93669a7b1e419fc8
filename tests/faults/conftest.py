"""Fixtures for the fault suite: a dedicated PostgreSQL database per test, sizes, processes.

`SURGEWATCH_FAULTS_FULL=1` runs the full sizes of the brief (200k events, 30 s outages); CI runs
the smaller sizes each test's docstring names.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db import make_engine
from services.core.migrate import upgrade_async
from services.core.settings import Settings, load_settings
from tests.support.databases import create_pg_database, drop_pg_database

FULL = os.environ.get("SURGEWATCH_FAULTS_FULL") == "1"


def size(ci: Any, full: Any) -> Any:
    """The CI size, or the full one under SURGEWATCH_FAULTS_FULL=1."""
    return full if FULL else ci


@pytest.fixture
async def fault_db() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own (services run against it)."""
    url = await create_pg_database("surgewatch_faults")
    try:
        await upgrade_async(url)
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def fault_engine(fault_db: str) -> AsyncIterator[AsyncEngine]:
    """A direct connection (never through a fault proxy) for the test's own checks."""
    engine = make_engine(load_settings(database_url=fault_db))
    yield engine
    await engine.dispose()


@pytest.fixture
def fault_settings(
    make_settings: Callable[..., Settings], topic_prefix: str, fault_db: str
) -> Callable[..., Settings]:
    """`make_settings` on the dedicated database, with test-speed group timeouts kept when a
    test overrides the `ingest` or `alerts` group."""

    def build(**overrides: Any) -> Settings:
        groups = {"session_timeout_ms": 1000, "heartbeat_interval_ms": 200}
        ingest = {"group_id": f"{topic_prefix}-ingest", **groups, **overrides.pop("ingest", {})}
        alerts = {"group_id": f"{topic_prefix}-alerts", **groups, **overrides.pop("alerts", {})}
        values: dict[str, Any] = {"database_url": fault_db, "ingest": ingest, "alerts": alerts}
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
