"""Run the real ingest consumer in-process for a test, and read back what it stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db import make_engine
from services.core.gazetteer import load_gazetteer
from services.core.kafka import make_producer
from services.core.models import DailyCountRow, IncidentRow
from services.core.settings import Settings
from services.ingest.consumer import IngestConsumer
from services.ingest.metrics import IngestMetrics
from services.ingest.store import IngestStore


@dataclass
class RunningIngest:
    consumer: IngestConsumer
    metrics: IngestMetrics
    engine: AsyncEngine
    task: asyncio.Task[None]

    def events(self, result: str, reason: str = "") -> float:
        value = self.metrics.registry.get_sample_value(
            "surgewatch_ingest_events_total", {"result": result, "reason": reason}
        )
        return value or 0.0


@asynccontextmanager
async def running_ingest(settings: Settings) -> AsyncIterator[RunningIngest]:
    metrics = IngestMetrics()
    engine = make_engine(settings, writer=True)
    producer = make_producer(settings)
    await producer.start()
    consumer = IngestConsumer(
        settings,
        IngestStore(engine, settings.ingest.group_id),
        producer,
        metrics,
        load_gazetteer(settings.gazetteer_file),
    )
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield RunningIngest(consumer, metrics, engine, task)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)
        await consumer.close()
        await producer.stop()
        await engine.dispose()


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def count_incidents(engine: AsyncEngine, *, live_only: bool = False) -> int:
    query = select(func.count()).select_from(IncidentRow)
    if live_only:
        query = query.where(IncidentRow.retracted.is_(False))
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def daily_totals(engine: AsyncEngine) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(province, day) → (incidents, killed, injured) from daily_counts, zero rows dropped."""
    query = select(
        DailyCountRow.province,
        DailyCountRow.day,
        func.sum(DailyCountRow.incidents),
        func.sum(DailyCountRow.killed),
        func.sum(DailyCountRow.injured),
    ).group_by(DailyCountRow.province, DailyCountRow.day)
    async with engine.connect() as conn:
        rows = await conn.execute(query)
        return {
            (p, str(d)): (int(n), int(k), int(i))
            for p, d, n, k, i in rows
            if (n, k, i) != (0, 0, 0)
        }


async def recount(engine: AsyncEngine) -> dict[tuple[str, str], tuple[int, int, int]]:
    """The same totals recomputed from the incidents table: what daily_counts must equal."""
    query = (
        select(
            IncidentRow.province,
            IncidentRow.day,
            func.count(),
            func.sum(IncidentRow.killed),
            func.sum(IncidentRow.injured),
        )
        .where(IncidentRow.retracted.is_(False))
        .group_by(IncidentRow.province, IncidentRow.day)
    )
    async with engine.connect() as conn:
        rows = await conn.execute(query)
        return {(p, str(d)): (int(n), int(k), int(i)) for p, d, n, k, i in rows}


async def publish(
    settings: Settings, values: list[bytes | tuple[bytes, list[tuple[str, bytes]]]]
) -> None:
    """Publish with aiokafka; a tuple is (value, headers) for binary mode."""
    producer: AIOKafkaProducer = make_producer(settings)
    await producer.start()
    try:
        futures = []
        for i, value in enumerate(values):
            body, headers = value if isinstance(value, tuple) else (value, [])
            futures.append(
                await producer.send(
                    settings.topic_incidents, body, key=str(i).encode(), headers=headers
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
