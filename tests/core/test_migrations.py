"""`upgrade` on fresh SQLite and PostgreSQL databases: every model table, idempotent, reversible."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core.migrate import alembic_config, upgrade, upgrade_async
from services.core.models import Base, ConsumerOffsetRow
from tests.support.databases import create_pg_database, drop_pg_database

pytestmark = pytest.mark.integration

MODEL_TABLES = set(Base.metadata.tables)
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database that has never seen a migration."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    url = await create_pg_database("surgewatch_migrations")
    try:
        yield url
    finally:
        await drop_pg_database(url)


def _describe(conn: Connection) -> dict[str, Any]:
    """Tables (columns, primary key, indexes) and the recorded Alembic revisions."""
    inspector = inspect(conn)
    tables: dict[str, Any] = {}
    for table in inspector.get_table_names():
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
        indexes = sorted(
            (i["name"] or "", tuple(map(str, i["column_names"])), i["unique"])
            for i in inspector.get_indexes(table)
        )
        primary_key = inspector.get_pk_constraint(table)["constrained_columns"]
        tables[table] = (columns, primary_key, indexes)
    revisions = []
    if "alembic_version" in tables:
        revisions = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return {"tables": tables, "revisions": revisions}


async def on(url: str, work: Any) -> Any:
    """Run `work(sync_connection)` on `url` in one committed transaction."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


async def schema(url: str) -> dict[str, Any]:
    return dict(await on(url, _describe))


def model_tables(described: dict[str, Any]) -> set[str]:
    return set(described["tables"]) - {"alembic_version"}


async def downgrade_to_base(url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")


async def test_upgrade_creates_every_model_table_at_head(fresh_url: str) -> None:
    await upgrade_async(fresh_url)

    migrated = await schema(fresh_url)
    assert model_tables(migrated) == MODEL_TABLES
    assert migrated["revisions"] == [HEAD]


async def test_the_migrated_schema_matches_the_models(fresh_url: str) -> None:
    await upgrade_async(fresh_url)

    def differences(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    assert await on(fresh_url, differences) == []


async def test_upgrading_twice_changes_nothing_and_keeps_the_data(fresh_url: str) -> None:
    await upgrade_async(fresh_url)
    row = {"group_id": "g", "topic": "incidents", "partition": 2, "next_offset": 41}

    def write(conn: Connection) -> None:
        conn.execute(insert(ConsumerOffsetRow).values(**row, updated_at=datetime.now(UTC)))

    await on(fresh_url, write)
    before = await schema(fresh_url)

    await asyncio.to_thread(upgrade, fresh_url)

    def offsets(conn: Connection) -> list[Any]:
        query = select(ConsumerOffsetRow.group_id, ConsumerOffsetRow.next_offset)
        return [tuple(r) for r in conn.execute(query)]

    assert await schema(fresh_url) == before
    assert await on(fresh_url, offsets) == [("g", 41)]


async def test_downgrade_to_base_then_upgrade_again(fresh_url: str) -> None:
    await upgrade_async(fresh_url)

    await downgrade_to_base(fresh_url)
    emptied = await schema(fresh_url)
    assert model_tables(emptied) == set()
    assert emptied["revisions"] == []

    await upgrade_async(fresh_url)
    again = await schema(fresh_url)
    assert model_tables(again) == MODEL_TABLES
    assert again["revisions"] == [HEAD]
