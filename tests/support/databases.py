"""Real databases for tests: a fresh PostgreSQL database per session, and SQLite files."""

from __future__ import annotations

import os
import uuid

import asyncpg

PG_ADMIN_URL = os.environ.get("SURGEWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create_pg_database(prefix: str = "surgewatch_test") -> str:
    """Create an empty database and return its SQLAlchemy URL; fail loudly if PG is down."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {exc}"
            " (run `make test`, which starts it)"
        ) from exc
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


TABLES = (
    "alert_transitions",
    "alerts",
    "alert_progress",
    "incident_versions",
    "incidents",
    "retractions",
    "daily_counts",
    "consumer_offsets",
    "rejections",
)
