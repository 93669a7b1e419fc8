"""The ingest's database side: one transaction per batch, offsets included.

Invariants:
- A batch's incidents, versions, retractions, daily-count deltas, rejections and the consumer
  offsets it advances commit together or not at all.
- Offsets are a fence: a batch for a partition commits only if the stored next offset is at or
  before the batch's first offset. A zombie consumer (one that lost the partition in a rebalance
  but still holds a fetched batch) finds the offset moved past it and its transaction is rolled
  back (`OffsetConflict`), so nothing is counted twice.
- Ingest write transactions are serialised: an advisory lock on PostgreSQL, `BEGIN IMMEDIATE` on
  SQLite. Reads of the stored state and the writes that depend on them therefore never interleave
  with another ingest instance's, even when one incident's versions arrive on two partitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.core.events import MAX_MESSAGE_BYTES, Incident, Rejection
from services.core.models import (
    ConsumerOffsetRow,
    DailyCountRow,
    IncidentRow,
    IncidentVersionRow,
    RejectionRow,
    RetractionRow,
)
from services.ingest import pg_bulk
from services.ingest.plan import Item, Key, Plan, Stored, plan_batch

# pg_advisory_xact_lock key shared by every ingest instance ("sw-ingst" as an int64).
INGEST_LOCK = 0x73772D696E677374
_CHUNK = 1000

TopicPartition = tuple[str, int]


class OffsetConflict(Exception):
    """The stored offset of a partition is past the batch: another consumer already wrote it."""

    def __init__(self, partitions: Sequence[TopicPartition]) -> None:
        super().__init__(f"offsets moved past the batch for {sorted(partitions)}")
        self.partitions = list(partitions)


@dataclass(frozen=True, slots=True)
class Span:
    """The offsets one batch covers in one partition."""

    first: int
    last: int


class IngestStore:
    def __init__(self, engine: AsyncEngine, group_id: str) -> None:
        self.engine = engine
        self.group_id = group_id
        self.dialect = engine.dialect.name
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert

    async def load_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The next offset to read for each partition that has one stored."""
        parts = list(partitions)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(ConsumerOffsetRow.partition, ConsumerOffsetRow.next_offset).where(
                    ConsumerOffsetRow.group_id == self.group_id,
                    ConsumerOffsetRow.topic == topic,
                    ConsumerOffsetRow.partition.in_(parts),
                )
            )
            return {int(p): int(o) for p, o in rows}

    async def mark_published(self, positions: list[tuple[str, int, int]], now: datetime) -> None:
        """Record that these rejections (topic, partition, offset) are on the DLQ topic.

        Grouped by partition, `offset IN (…)` of integers, which the unique index serves; a long
        list of tuples in `IN (…)` is planned badly by PostgreSQL.
        """
        by_partition: dict[tuple[str, int], list[int]] = {}
        for topic, partition, offset in positions:
            by_partition.setdefault((topic, partition), []).append(offset)
        async with self.engine.begin() as conn:
            for (topic, partition), offsets in sorted(by_partition.items()):
                for chunk in _chunks(offsets):
                    await conn.execute(
                        update(RejectionRow)
                        .where(
                            RejectionRow.topic == topic,
                            RejectionRow.partition == partition,
                            RejectionRow.offset.in_(chunk),
                        )
                        .values(published_at=now)
                    )

    async def unpublished(self, before: datetime, limit: int = 500) -> list[RejectionRow]:
        """Rejections stored before `before` and still not on the DLQ topic, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(RejectionRow)
                .where(RejectionRow.published_at.is_(None), RejectionRow.received_at < before)
                .order_by(RejectionRow.seq)
                .limit(limit)
            )
            return [RejectionRow(**row._mapping) for row in rows]

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def write(
        self,
        items: list[Item],
        spans: dict[TopicPartition, Span],
        now: datetime,
        forced: frozenset[TopicPartition] = frozenset(),
    ) -> Plan:
        """Apply a batch in one transaction and return its plan (outcomes, notices …).

        `forced` partitions skip the offset fence once: they were reset to the start of a log
        that lost its data, so their stored offset is legitimately ahead of the batch.
        """
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK})
            await self._check_fence(conn, spans, forced)
            keys = _keys(items)
            if self.dialect == "postgresql":
                driver = (await conn.get_raw_connection()).driver_connection
                stored, retracted = await pg_bulk.lookup(driver, keys)
                plan = plan_batch(items, stored, retracted)
                await pg_bulk.apply(driver, plan, now)
                await self._apply_rare(conn, plan, now)
            else:
                stored = await self._stored(conn, keys)
                retracted = await self._retracted(conn, keys)
                plan = plan_batch(items, stored, retracted)
                await self._apply(conn, plan, now)
            await self._advance(conn, spans, now)
        return plan

    async def _check_fence(
        self,
        conn: AsyncConnection,
        spans: dict[TopicPartition, Span],
        forced: frozenset[TopicPartition],
    ) -> None:
        conflicts = []
        for topic in {t for t, _ in spans}:
            query = select(ConsumerOffsetRow.partition, ConsumerOffsetRow.next_offset).where(
                ConsumerOffsetRow.group_id == self.group_id,
                ConsumerOffsetRow.topic == topic,
                ConsumerOffsetRow.partition.in_([p for t, p in spans if t == topic]),
            )
            if self.dialect == "postgresql":
                query = query.with_for_update()
            for partition, next_offset in await conn.execute(query):
                tp = (topic, int(partition))
                if tp not in forced and next_offset > spans[tp].first:
                    conflicts.append(tp)
        if conflicts:
            raise OffsetConflict(conflicts)

    async def _stored(self, conn: AsyncConnection, keys: list[Key]) -> dict[Key, Stored]:
        cols = (
            IncidentRow.source,
            IncidentRow.id,
            IncidentRow.version,
            IncidentRow.retracted,
            IncidentRow.province,
            IncidentRow.day,
            IncidentRow.subregion,
            IncidentRow.category,
            IncidentRow.killed,
            IncidentRow.injured,
            IncidentRow.occurred_at,
        )
        rows = await self._by_keys(conn, IncidentRow, cols, keys)
        return {(r[0], r[1]): Stored(*r[2:]) for r in rows}

    async def _retracted(self, conn: AsyncConnection, keys: list[Key]) -> set[Key]:
        cols = (RetractionRow.source, RetractionRow.id)
        return {(r[0], r[1]) for r in await self._by_keys(conn, RetractionRow, cols, keys)}

    async def _by_keys(
        self, conn: AsyncConnection, model: Any, cols: tuple[Any, ...], keys: list[Key]
    ) -> list[Any]:
        """Rows of `model` whose (source, id) is in `keys` (SQLite: tuple IN is fast there;
        PostgreSQL plans a long `(a, b) IN (…)` list badly and uses `pg_bulk.lookup`'s join)."""
        if not keys:
            return []
        out: list[Any] = []
        for chunk in _chunks(keys):
            result = await conn.execute(
                select(*cols).where(tuple_(model.source, model.id).in_(chunk))
            )
            out.extend(result)
        return out

    async def _apply(self, conn: AsyncConnection, plan: Plan, now: datetime) -> None:
        """Every write of the plan through SQLAlchemy (SQLite; PostgreSQL uses `pg_bulk`)."""
        insert = self._insert
        if plan.upserts:
            rows = [_incident_row(inc, flag, now) for inc, flag in plan.upserts.values()]
            stmt = insert(IncidentRow)
            keep = {"source", "id", "received_at"}
            stmt = stmt.on_conflict_do_update(
                index_elements=["source", "id"],
                set_={c: stmt.excluded[c] for c in rows[0] if c not in keep},
            )
            await conn.execute(stmt, rows)
        if plan.versions:
            await conn.execute(
                insert(IncidentVersionRow).on_conflict_do_nothing(),
                [
                    {
                        "source": inc.source,
                        "id": inc.id,
                        "version": inc.version,
                        "event_id": inc.event_id,
                        "received_at": now,
                        "data": orjson.loads(inc.data),
                    }
                    for inc in plan.versions.values()
                ],
            )
        deltas = plan.nonzero_deltas()
        if deltas:
            stmt = insert(DailyCountRow)
            stmt = stmt.on_conflict_do_update(
                index_elements=["province", "day", "subregion", "category"],
                set_={
                    "incidents": DailyCountRow.incidents + stmt.excluded.incidents,
                    "killed": DailyCountRow.killed + stmt.excluded.killed,
                    "injured": DailyCountRow.injured + stmt.excluded.injured,
                },
            )
            await conn.execute(
                stmt,
                [
                    {
                        "province": province,
                        "day": day,
                        "subregion": subregion,
                        "category": category,
                        "incidents": d.incidents,
                        "killed": d.killed,
                        "injured": d.injured,
                    }
                    for (province, day, subregion, category), d in deltas.items()
                ],
            )
        await self._apply_rare(conn, plan, now)

    async def _apply_rare(self, conn: AsyncConnection, plan: Plan, now: datetime) -> None:
        """The writes only corrections, retractions and rejections need."""
        insert = self._insert
        if plan.retract_only:
            for chunk in _chunks(list(plan.retract_only)):
                await conn.execute(
                    update(IncidentRow)
                    .where(tuple_(IncidentRow.source, IncidentRow.id).in_(chunk))
                    .values(retracted=True, updated_at=now)
                )
        if plan.retractions:
            await conn.execute(
                insert(RetractionRow).on_conflict_do_nothing(),
                [
                    {
                        "source": r.source,
                        "id": r.id,
                        "reason": r.reason,
                        "event_id": r.event_id,
                        "retracted_at": now,
                    }
                    for r in plan.retractions.values()
                ],
            )
        if plan.rejections:
            await conn.execute(
                insert(RejectionRow).on_conflict_do_nothing(),
                [
                    {
                        "topic": msg.topic,
                        "partition": msg.partition,
                        "offset": msg.offset,
                        "reason": rej.reason.value,
                        "detail": rej.detail,
                        "raw": msg.value[:MAX_MESSAGE_BYTES] if msg.value is not None else None,
                        "headers": {
                            k: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                            for k, v in msg.headers
                        },
                        "received_at": now,
                        "key": key,
                    }
                    for msg, rej, key in plan.rejections
                ],
            )

    async def _advance(
        self, conn: AsyncConnection, spans: dict[TopicPartition, Span], now: datetime
    ) -> None:
        if not spans:
            return
        stmt = self._insert(ConsumerOffsetRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["group_id", "topic", "partition"],
            set_={"next_offset": stmt.excluded.next_offset, "updated_at": now},
        )
        await conn.execute(
            stmt,
            [
                {
                    "group_id": self.group_id,
                    "topic": topic,
                    "partition": partition,
                    "next_offset": span.last + 1,
                    "updated_at": now,
                }
                for (topic, partition), span in sorted(spans.items())
            ],
        )


def _keys(items: list[Item]) -> list[Key]:
    seen: dict[Key, None] = {}
    for item in items:
        if not isinstance(item.parsed, Rejection):
            seen[(item.parsed.source, item.parsed.id)] = None
    return list(seen)


def _chunks(keys: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


def _incident_row(inc: Incident, retracted: bool, now: datetime) -> dict[str, Any]:
    return {
        "source": inc.source,
        "id": inc.id,
        "version": inc.version,
        "occurred_at": inc.occurred_at,
        "day": inc.day,
        "province": inc.province,
        "subregion": inc.subregion,
        "district": inc.district,
        "lat": inc.lat,
        "lon": inc.lon,
        "category": inc.category.value,
        "target": inc.target.value if inc.target else None,
        "perpetrator": inc.perpetrator,
        "killed": inc.killed,
        "injured": inc.injured,
        "summary": inc.summary,
        "url": inc.url,
        "retracted": retracted,
        "event_id": inc.event_id,
        "received_at": now,
        "updated_at": now,
    }
