"""kill -9 of the ingest process in the middle of a 50,000-event load, three times."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from services.core.db import make_engine
from services.core.kafka import ensure_topics, make_producer
from services.core.models import ConsumerOffsetRow
from services.core.settings import Settings
from tests.support import events
from tests.support.faults import service_env
from tests.support.ingest import count_incidents, daily_totals, eventually, recount

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 50_000
PROVINCES = ["Balochistan", "KP", "Sindh", "Punjab", "ICT", "GB", "AJK", "FATA"]


async def publish_load(settings: Settings) -> None:
    rng = random.Random(7)
    producer: AIOKafkaProducer = make_producer(settings)
    await producer.start()
    try:
        futures = []
        for i in range(TOTAL):
            value = events.structured(
                f"k{i}",
                province=rng.choice(PROVINCES),
                occurred_at=f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                killed=rng.randint(0, 5),
                injured=rng.randint(0, 9),
            )
            futures.append(await producer.send(settings.topic_incidents, value, key=b"%d" % i))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_kill_9_three_times_loses_nothing_and_counts_nothing_twice(
    make_settings: Callable[..., Settings], database_url: str, tmp_path
) -> None:
    settings = make_settings(database_url=database_url)
    await ensure_topics(settings)
    await publish_load(settings)
    engine = make_engine(settings)
    rng = random.Random(11)
    log = (tmp_path / "ingest.log").open("ab")

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "ingest",
            env=service_env(
                settings, SURGEWATCH_INGEST__BATCH_MAX="2000", SURGEWATCH_METRICS_PORT="0"
            ),
            stdout=log,
            stderr=log,
        )

    try:
        for kill in range(3):
            before = await count_incidents(engine)
            process = await start()
            target = before + rng.randint(3_000, 9_000)

            async def progressed(
                target: int = target, process: asyncio.subprocess.Process = process
            ) -> bool:
                assert process.returncode is None, "ingest exited on its own"
                return await count_incidents(engine) >= target

            await eventually(progressed, within=120, what=f"progress before kill {kill + 1}")
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)
            assert 0 < await count_incidents(engine) < TOTAL, "kill landed mid-load"

        process = await start()
        try:

            async def finished() -> bool:
                async with engine.connect() as conn:
                    done = await conn.execute(
                        select(func.sum(ConsumerOffsetRow.next_offset)).where(
                            ConsumerOffsetRow.topic == settings.topic_incidents
                        )
                    )
                    return done.scalar_one() == TOTAL

            await eventually(finished, within=180, what="the whole topic stored")
        finally:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 30) == 0, "clean shutdown on SIGTERM"
        assert await count_incidents(engine) == TOTAL
        totals = await daily_totals(engine)
        assert sum(n for n, _, _ in totals.values()) == TOTAL
        assert totals == await recount(engine)
    finally:
        log.close()
        await engine.dispose()
