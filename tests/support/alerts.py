"""Helpers for the alerts tests: counts in, notices out, history back, a running worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.__main__ import AlertsService, alerts_service
from services.alerts.clock import Now, utcnow
from services.core.kafka import client_options, make_producer
from services.core.models import AlertRow, AlertTransitionRow, DailyCountRow
from services.core.notices import Notice
from services.core.settings import Settings

KARACHI = ZoneInfo("Asia/Karachi")

# A ratio rule that fires at once (for 0d) and resolves at once: easy to reason about.
SURGE_RULES = """\
rules:
  - name: test_surge
    metric: incidents
    window: 7d
    method: ratio
    params: {baseline_weeks: 4, factor: 2.0, min_baseline_per_week: 1.0}
    min_count: 3
    severity: warning
    for: 0d
    keep_firing_for: 0d
  - name: test_surge_slow
    metric: incidents
    window: 7d
    method: ratio
    params: {baseline_weeks: 4, factor: 2.0, min_baseline_per_week: 1.0}
    min_count: 3
    severity: critical
    for: 2d
    keep_firing_for: 3d
"""


def write_rules(directory: Path, text: str = SURGE_RULES) -> Path:
    path = directory / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def surge_series(
    start: date,
    days: int = 100,
    surge_at: int = 60,
    surge_days: int = 10,
    base: int = 1,
    peak: int | None = None,
) -> list[tuple[date, int]]:
    """`base` incidents a day, `peak` (default 3 × base) for `surge_days` from day `surge_at`."""
    out = []
    for i in range(days):
        n = (peak or base * 3) if surge_at <= i < surge_at + surge_days else base
        out.append((start + timedelta(days=i), n))
    return out


async def write_counts(
    engine: AsyncEngine, province: str, counts: Iterable[tuple[date, int]], killed: int = 0
) -> None:
    """Set the province's daily counts (one category, no subregion), replacing what was there."""
    rows = [
        {
            "province": province,
            "day": day,
            "subregion": "",
            "category": "armed_assault",
            "incidents": n,
            "killed": n * killed,
            "injured": 0,
        }
        for day, n in counts
    ]
    if not rows:
        return
    async with engine.begin() as conn:
        for row in rows:
            await conn.execute(
                delete(DailyCountRow).where(
                    DailyCountRow.province == row["province"], DailyCountRow.day == row["day"]
                )
            )
        await conn.execute(DailyCountRow.__table__.insert(), rows)


def notice(province: str, days: Sequence[date], n: int = 0) -> Notice:
    newest = max(days)
    return Notice(
        province=province,
        source="test",
        id=f"{province}-{newest.isoformat()}-{n}",
        version=1,
        change="accepted",
        days=tuple(days),
        occurred_at=datetime.combine(newest, dtime(12), KARACHI),
    )


@asynccontextmanager
async def notice_publisher(
    settings: Settings,
) -> AsyncIterator[Callable[[Notice], Awaitable[tuple[TopicPartition, int]]]]:
    """A function that publishes one notice, keyed by province, and returns where it landed."""
    producer = make_producer(settings)
    await producer.start()

    async def send(n: Notice) -> tuple[TopicPartition, int]:
        sent = await producer.send_and_wait(
            settings.topic_accepted, n.encode(), key=n.province.encode()
        )
        return TopicPartition(sent.topic, sent.partition), sent.offset

    try:
        yield send
    finally:
        await producer.stop()


async def publish_raw(settings: Settings, value: bytes, key: bytes) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic_accepted, value, key=key)
    finally:
        await producer.stop()


async def publish_notices(settings: Settings, notices: Iterable[Notice]) -> None:
    async with notice_publisher(settings) as send:
        for n in notices:
            await send(n)


@dataclass(frozen=True)
class Step:
    to: str
    at: datetime


async def history(engine: AsyncEngine) -> list[tuple[str, str, datetime, str, tuple[Step, ...]]]:
    """Every alert (province, rule, started_at, state, lifecycle transitions), comparable."""
    async with engine.connect() as conn:
        alerts = (await conn.execute(select(AlertRow).order_by(AlertRow.id))).all()
        transitions = (
            await conn.execute(select(AlertTransitionRow).order_by(AlertTransitionRow.seq))
        ).all()
    steps: dict[int, list[Step]] = {}
    for t in transitions:
        if t.to_state != "acknowledged":
            steps.setdefault(t.alert_id, []).append(Step(t.to_state, _utc(t.at)))
    out = [
        (a.province, a.rule, _utc(a.started_at), a.state, tuple(steps.get(a.id, [])))
        for a in alerts
    ]
    return sorted(out, key=lambda x: (x[0], x[1], x[2]))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class FakeNow:
    """A wall clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment


@asynccontextmanager
async def running_alerts(settings: Settings, now: Now = utcnow) -> AsyncIterator[AlertsService]:
    """The real alerts service in-process (no ops server), stopped and closed at exit."""
    async with alerts_service(settings, now=now) as service:
        await service.worker.start()
        task = asyncio.create_task(service.worker.run())
        try:
            yield service
        finally:
            service.worker.stop()
            await asyncio.wait_for(task, 30)
            await service.worker.close()


async def eventually(
    check: Callable[[], Awaitable[bool]],
    within: float = 30.0,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def consume_all(settings: Settings, topic: str, within: float = 3.0) -> list[Any]:
    """Every message on `topic` so far (reads until it has been quiet for a moment)."""
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            got = [r for records in batch.values() for r in records]
            out.extend(got)
            if not got and out:
                break
    finally:
        await consumer.stop()
    return out


def event_of(record: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(record.value)
    return doc
