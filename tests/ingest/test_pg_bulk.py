"""pg_bulk (PostgreSQL's bulk statements) writes exactly what the SQLAlchemy path writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.core.db import make_engine
from services.core.events import RawMessage
from services.core.gazetteer import load_gazetteer
from services.core.parse import parse
from services.core.settings import load_settings
from services.ingest import pg_bulk
from services.ingest.plan import Item, Plan, Stored, plan_batch
from services.ingest.store import IngestStore
from tests.support import events

pytestmark = pytest.mark.integration
NOW = datetime(2025, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)
GAZ = load_gazetteer()

DUMPS = {
    "incidents": "SELECT to_jsonb(x)::text FROM incidents x ORDER BY source, id",
    "incident_versions": "SELECT source, id, version, event_id, received_at, data::text "
    "FROM incident_versions ORDER BY source, id, version",
    "daily_counts": "SELECT to_jsonb(x)::text FROM daily_counts x "
    "ORDER BY province, day, subregion, category",
}


def item(value: bytes, offset: int) -> Item:
    raw = RawMessage(value, (), "incidents", 0, offset)
    return Item(raw, parse(raw, GAZ, NOW))


def mixed_batch() -> list[Item]:
    """New reports with every optional field or none, FATA, a correction, a retraction, a
    duplicate, unicode and JSON-hostile text."""
    values = [
        events.structured("a", killed=2, injured=3, district="Quetta", target="civilians",
                          perpetrator="BLA", summary="two \"quoted\" words\nand a newline",
                          url="https://example.org/a", location={"lat": 30.18, "lon": 67.0}),
        events.structured("b", province="FATA", category="suicide_bombing",
                          occurred_at="2024-03-02T23:30:00+05:00"),
        events.structured("c", province="kpk", summary="پشاور میں دھماکہ", killed=0),
        events.structured("a", version=2, killed=5, province="Sindh"),
        events.retraction("b", reason="duplicate report"),
        events.structured("c", province="kpk"),  # a duplicate of version 1
        events.structured("d", version=2, occurred_at="2024-02-29T00:00:00Z",
                          location={"lat": 24, "lon": 67}),  # a correction of a stored one
    ]  # fmt: skip
    return [item(v, n) for n, v in enumerate(values)]


async def empty(conn: AsyncConnection) -> None:
    """Other tests share the session database: start from empty tables (rolled back after)."""
    for table in ("incidents", "incident_versions", "retractions", "daily_counts"):
        await conn.execute(text(f"DELETE FROM {table}"))


async def dump(conn: AsyncConnection) -> dict[str, list[Any]]:
    return {t: [tuple(r) for r in await conn.execute(text(q))] for t, q in DUMPS.items()}


async def write(conn: AsyncConnection, store: IngestStore, plan: Plan, bulk: bool) -> None:
    """The PostgreSQL path (bulk statements, then the rare writes) or the SQLAlchemy one."""
    if bulk:
        driver = (await conn.get_raw_connection()).driver_connection
        await pg_bulk.apply(driver, plan, NOW)
        await store._apply_rare(conn, plan, NOW)
    else:
        await store._apply(conn, plan, NOW)


async def replan(conn: AsyncConnection, store: IngestStore, items: list[Item]) -> Plan:
    """The batch planned again over what the database now holds."""
    keys = sorted({(i.parsed.source, i.parsed.id) for i in items if hasattr(i.parsed, "id")})
    return plan_batch(items, await store._stored(conn, keys), await store._retracted(conn, keys))


async def test_bulk_statements_write_what_the_sqlalchemy_path_writes(pg_url: str) -> None:
    engine = make_engine(load_settings(database_url=pg_url), writer=True)
    store = IngestStore(engine, "g")
    items = mixed_batch()
    stored = {("test/desk", "d"): Stored(1, False, "PK-BA", NOW.date(), None, "bombing", 1, 0, NOW)}
    plan = plan_batch(items, stored, set())
    assert plan.upserts and plan.versions and plan.nonzero_deltas()
    results = {}
    try:
        for bulk in (False, True):
            async with engine.connect() as conn:
                transaction = await conn.begin()
                await empty(conn)
                await write(conn, store, plan, bulk)
                # Again, planned over the stored rows: conflicts take the same paths.
                again = await replan(conn, store, items)
                assert not again.fresh and again.versions
                await write(conn, store, again, bulk)
                results[bulk] = await dump(conn)
                await transaction.rollback()
    finally:
        await engine.dispose()
    assert results[True] == results[False]
    assert len(results[True]["incidents"]) == 4


async def test_lookup_finds_stored_incidents_and_retractions(pg_url: str) -> None:
    engine = make_engine(load_settings(database_url=pg_url), writer=True)
    store = IngestStore(engine, "g")
    items = mixed_batch()
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            await empty(conn)
            plan = plan_batch(items, {}, set())
            await write(conn, store, plan, bulk=True)
            driver = (await conn.get_raw_connection()).driver_connection
            keys = [("test/desk", k) for k in ("a", "b", "c", "d", "unknown")]
            stored, retracted = await pg_bulk.lookup(driver, keys)
            await transaction.rollback()
    finally:
        await engine.dispose()
    assert sorted(k for _, k in stored) == ["a", "b", "c", "d"]
    assert stored[("test/desk", "a")].version == 2
    assert stored[("test/desk", "a")].province == "PK-SD"
    assert stored[("test/desk", "b")].retracted
    assert stored[("test/desk", "b")].subregion == "PK-TA"
    assert retracted == {("test/desk", "b")}
    assert await pg_bulk.lookup(driver, []) == ({}, set())
