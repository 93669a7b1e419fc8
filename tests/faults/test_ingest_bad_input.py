"""Hostile input: 10,000 generated bad messages mixed with good ones, and the DLQ ratio guard.

CI size = full size: 10,000 bad + 5,000 good messages (tests/faults/bad_input.py: wrong types,
missing fields, huge strings, oversized messages, deep nesting, invalid UTF-8, binary-mode headers
that lie, unknown provinces, negative casualties, broken envelopes, NUL characters …), each with
the reason it must get. Every bad one must reach the DLQ unchanged with that reason and a detail,
every good one must be stored, and the consumer must never stop or retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.kafka import ensure_topics, make_producer
from services.core.models import IncidentRow, RejectionRow
from services.core.settings import Settings
from tests.faults.bad_input import Case, Generator
from tests.faults.checks import header
from tests.support.faults import read_topic
from tests.support.ingest import RunningIngest, eventually, running_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_BAD, N_GOOD = 10_000, 5_000
Position = tuple[int, int]


async def publish_cases(settings: Settings, cases: list[Case]) -> list[Position]:
    """Publish in order; returns each message's (partition, offset)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(
                settings.topic_incidents, case.value, key=b"k%d" % i, headers=case.headers
            )
            for i, case in enumerate(cases)
        ]
        return [(m.partition, m.offset) for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


def handled(ingest: RunningIngest) -> float:
    registry = ingest.metrics.registry
    return sum(
        s.value
        for family in registry.collect()
        if family.name == "surgewatch_ingest_events"
        for s in family.samples
        if s.name.endswith("_total")
    )


def gauge(ingest: RunningIngest, name: str) -> float:
    return ingest.metrics.registry.get_sample_value(name) or 0.0


async def test_ten_thousand_bad_messages_reach_the_dlq_with_their_reason(
    fault_settings: Callable[..., Settings],
    fault_engine: AsyncEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = fault_settings()
    await ensure_topics(settings)
    cases = Generator(seed=10_000).cases(N_BAD, N_GOOD)
    positions = await publish_cases(settings, cases)
    expected = dict(zip(positions, cases, strict=True))
    started = time.monotonic()
    async with running_ingest(settings) as ingest:

        async def all_handled() -> bool:
            assert not ingest.task.done(), f"the consumer stopped: {ingest.task}"
            assert not gauge(ingest, "surgewatch_ingest_db_errors_total"), "a batch failed"
            return handled(ingest) >= len(cases)

        await eventually(all_handled, within=120, what="every message handled")
        took = time.monotonic() - started
        assert not ingest.task.done() and ingest.consumer.running, "the consumer is still up"
        db_errors = gauge(ingest, "surgewatch_ingest_db_errors_total")
        assert db_errors == 0, "no batch failed: no poison pill reached the database"
        by_reason = Counter(c.reason for c in cases if c.reason)
        for reason, n in by_reason.items():
            assert ingest.events("rejected", reason) == n, reason
        assert ingest.events("accepted") == N_GOOD

    dlq = await read_topic(settings, settings.topic_dlq)
    assert len(dlq) == N_BAD, "every bad message in the DLQ, once"
    wrong: Counter[str] = Counter()
    for record in dlq:
        position = (
            int(header(record, "source.partition") or -1),
            int(header(record, "source.offset") or -1),
        )
        case = expected[position]
        assert header(record, "source.topic") == settings.topic_incidents
        assert record.value == case.value, f"{case.kind}: the DLQ holds the message unchanged"
        assert (header(record, "error.detail") or "").strip(), f"{case.kind}: a detail"
        if header(record, "error.reason") != case.reason:
            wrong[f"{case.kind}: {header(record, 'error.reason')} ≠ {case.reason}"] += 1
    assert not wrong, f"wrong reasons: {dict(wrong)}"

    async with fault_engine.connect() as conn:
        rejections = {
            (p, o): r
            for p, o, r in await conn.execute(
                select(RejectionRow.partition, RejectionRow.offset, RejectionRow.reason)
            )
        }
        stored = {i for (i,) in await conn.execute(select(IncidentRow.id))}
    assert rejections == {pos: c.reason for pos, c in expected.items() if c.reason}
    assert stored == {c.id for c in cases if c.reason is None}
    kinds = Counter(c.kind.split(".")[0] for c in cases if c.reason)
    with capsys.disabled():
        print(
            f"\n[faults] bad input: {N_BAD} bad + {N_GOOD} good handled in {took:.1f}s; "
            f"DLQ {len(dlq)}/{N_BAD} with the right reason, {len(stored)}/{N_GOOD} stored, "
            f"0 DB errors; reasons {dict(sorted(by_reason.items()))}; "
            f"kinds {dict(sorted(kinds.items()))}"
        )


async def test_a_mostly_bad_stream_raises_the_dlq_alarm_until_good_traffic_returns(
    fault_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """1,500 messages, 80% bad, trip surgewatch_ingest_dlq_alarm (and log an error); 1,500 good
    ones afterwards bring the ratio under the threshold and the alarm back to 0."""
    settings = fault_settings()
    await ensure_topics(settings)
    generator = Generator(seed=3)
    bad_stream = generator.cases(1_200, 300)
    caplog.set_level(logging.ERROR, logger="surgewatch.ingest")
    async with running_ingest(settings) as ingest:
        assert gauge(ingest, "surgewatch_ingest_dlq_alarm") == 0
        await publish_cases(settings, bad_stream)

        def alarm(value: float, total: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return (
                    handled(ingest) >= total
                    and gauge(ingest, "surgewatch_ingest_dlq_alarm") == value
                )

            return check

        await eventually(alarm(1, len(bad_stream)), what="the DLQ alarm raised")
        ratio_bad = gauge(ingest, "surgewatch_ingest_dlq_ratio")
        assert ratio_bad > settings.ingest.dlq_ratio_alarm
        loud = [r for r in caplog.records if "rejected" in r.getMessage()]
        assert loud and loud[-1].levelno == logging.ERROR, "the alarm is logged as an error"

        await publish_cases(settings, generator.cases(0, 1_500))
        await eventually(alarm(0, len(bad_stream) + 1_500), what="the DLQ alarm cleared")
        ratio_good = gauge(ingest, "surgewatch_ingest_dlq_ratio")
        assert ratio_good <= settings.ingest.dlq_ratio_alarm
    with capsys.disabled():
        print(
            f"\n[faults] DLQ guard: ratio {ratio_bad:.2f} over the last 1000 → alarm 1 "
            f"(logged at ERROR); after 1,500 good ones ratio {ratio_good:.2f} → alarm 0"
        )
