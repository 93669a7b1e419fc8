"""IngestStore on both databases: one transaction per batch, the offset fence, concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.core.db import make_engine
from services.core.events import RawMessage
from services.core.gazetteer import load_gazetteer
from services.core.parse import parse
from services.core.settings import load_settings
from services.ingest.plan import Item
from services.ingest.store import IngestStore, OffsetConflict, Span
from tests.support import events
from tests.support.ingest import count_incidents, daily_totals, recount

pytestmark = pytest.mark.integration
NOW = datetime(2025, 1, 1, tzinfo=UTC)
GAZ = load_gazetteer()


def batch(ids: list[str], partition: int = 0, start: int = 0) -> list[Item]:
    out = []
    for n, id_ in enumerate(ids):
        raw = RawMessage(events.structured(id_, killed=1), (), "incidents", partition, start + n)
        out.append(Item(raw, parse(raw, GAZ, NOW)))
    return out


def span(items: list[Item]) -> dict[tuple[str, int], Span]:
    first, last = items[0].message, items[-1].message
    return {(first.topic, first.partition): Span(first.offset, last.offset)}


async def test_a_batch_commits_with_its_offsets(engine) -> None:
    store = IngestStore(engine, "g")
    items = batch(["a", "b", "c"])
    await store.write(items, span(items), NOW)
    assert await store.load_offsets("incidents", [0, 1]) == {0: 3}
    assert await count_incidents(engine) == 3


async def test_a_zombie_batch_is_fenced_off_and_changes_nothing(engine) -> None:
    store = IngestStore(engine, "g")
    items = batch(["a", "b", "c"])
    await store.write(items, span(items), NOW)
    with pytest.raises(OffsetConflict) as caught:
        await store.write(items, span(items), NOW)  # the same batch again, from a zombie
    assert caught.value.partitions == [("incidents", 0)]
    assert await daily_totals(engine) == {("PK-BA", "2024-03-01"): (3, 3, 0)}


async def test_a_forced_partition_passes_the_fence_once_and_dedupes(engine) -> None:
    store = IngestStore(engine, "g")
    items = batch(["a", "b"], start=10)
    await store.write(items, span(items), NOW)
    replayed = batch(["a", "b"], start=0)  # the broker lost its log; publishers re-sent
    plan = await store.write(replayed, span(replayed), NOW, frozenset({("incidents", 0)}))
    assert [o.result for o in plan.outcomes] == ["duplicate", "duplicate"]
    assert await store.load_offsets("incidents", [0]) == {0: 2}
    assert await daily_totals(engine) == {("PK-BA", "2024-03-01"): (2, 2, 0)}


async def test_a_failed_transaction_leaves_no_trace(engine) -> None:
    store = IngestStore(engine, "g")
    items = batch(["a", "b"])

    class Boom(Exception):
        pass

    original = store._advance

    async def fail(*args, **kwargs):
        await original(*args, **kwargs)
        raise Boom  # the process dies after the last statement, before COMMIT

    store._advance = fail  # type: ignore[method-assign]
    with pytest.raises(Boom):
        await store.write(items, span(items), NOW)
    assert await count_incidents(engine) == 0
    assert await store.load_offsets("incidents", [0, 1]) == {}


async def test_two_writers_with_the_same_incidents_on_two_partitions_count_once(
    database_url: str,
) -> None:
    """Publishers that do not key by incident put one incident's copies on two partitions;
    two ingest instances then write them at the same time."""
    engines = [make_engine(load_settings(database_url=database_url), writer=True) for _ in "ab"]
    try:
        stores = [IngestStore(e, "g") for e in engines]
        ids = [f"i{n}" for n in range(400)]

        async def writer(store: IngestStore, partition: int) -> None:
            for start in range(0, 400, 50):
                items = batch(ids[start : start + 50], partition, start)
                await store.write(items, span(items), NOW)

        await asyncio.gather(writer(stores[0], 0), writer(stores[1], 1))
        assert await count_incidents(engines[0]) == 400
        totals = await daily_totals(engines[0])
        assert totals == {("PK-BA", "2024-03-01"): (400, 400, 0)}
        assert totals == await recount(engines[0])
    finally:
        for e in engines:
            await e.dispose()
