"""The database connection of running ingest and api processes is cut, then restored.

CI size: an 8 s cut with 3,000 events published during it (SURGEWATCH_FAULTS_FULL=1: 30 s).
Ingest and the api reach PostgreSQL only through a fault proxy; the test reads it directly.
While the cut lasts the process must stay up (no crash loop), stop storing, count its DB errors,
report the database as failing, and commit nothing to Kafka past what the DB holds; after the
restore it must resume by itself and end with every event stored once. The api must stay up,
say not ready (/readyz 503, database down) and answer reads with 503, never 500.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.kafka import client_options, ensure_topics
from services.core.settings import Settings
from tests.faults.checks import stored_messages, stored_offsets
from tests.faults.conftest import size
from tests.faults.load import build_load
from tests.support.faults import PacedPublisher, Stack, TcpProxy, service_env
from tests.support.ingest import count_incidents, daily_totals, eventually, recount

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUT_S = size(8.0, 30.0)
BEFORE, DURING = 2_000, 3_000
LAG = "surgewatch_ingest_lag_messages"


async def status_of(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return 0


def through(proxy: TcpProxy, url: str) -> str:
    parsed = make_url(url)
    return parsed.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False)


async def kafka_committed(settings: Settings, partitions: int) -> dict[int, int]:
    """The ingest group's offsets as Kafka holds them (what lag tools see)."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=settings.ingest.group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        out = {}
        for p in range(partitions):
            committed = await consumer.committed(TopicPartition(settings.topic_incidents, p))
            out[p] = committed if committed is not None else 0
        return out
    finally:
        await consumer.stop()


async def test_db_cut_pauses_ingest_and_it_resumes_losing_and_doubling_nothing(
    fault_settings: Callable[..., Settings],
    fault_engine: AsyncEngine,
    fault_db: str,
    logs,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = fault_settings(ingest={"retry_max_s": 4.0})
    group, topic = settings.ingest.group_id, settings.topic_incidents
    await ensure_topics(settings)
    load = build_load(BEFORE + DURING, seed=30)
    async with TcpProxy("127.0.0.1", make_url(fault_db).port or 5432) as proxy:
        env = service_env(settings, SURGEWATCH_DATABASE_URL=through(proxy, fault_db))
        stack = Stack(env, logs, services=("ingest", "api"))
        ingest, api = stack["ingest"], stack["api"]
        try:
            await stack.start()
            await ingest.wait_health(lambda _, body: bool(body.get("partitions")))
            await api.wait_health(lambda status, _: status == 200, path="/readyz")
            first = PacedPublisher(settings, topic, load.messages[:BEFORE], rate=10_000).start()
            await first.wait()

            def stored(n: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return await stored_messages(fault_engine, group, topic) == n

                return check

            await eventually(stored(BEFORE), what="the first events stored")
            await asyncio.sleep(0.5)  # let the Kafka commit of the last batch land
            offsets_before = await stored_offsets(fault_engine, group, topic)
            incidents_before = await count_incidents(fault_engine)
            errors_before = await ingest.sample("surgewatch_ingest_db_errors_total") or 0.0

            await proxy.cut()
            cut_at = time.monotonic()
            during = PacedPublisher(
                settings, topic, load.messages[BEFORE:], rate=DURING / (CUT_S / 2)
            ).start()
            lag_seen = 0.0
            failing_seen = False
            api_statuses: Counter[str] = Counter()
            while time.monotonic() - cut_at < CUT_S:
                await asyncio.sleep(0.5)
                stack.check_alive()
                status, body = await ingest.health()
                failing_seen |= status == 200 and body.get("database") == "failing"
                ready, body = await api.health("/readyz")
                database_down = not body.get("checks", {}).get("database", {}).get("ok", True)
                api_statuses[f"readyz {ready}{' db down' if database_down else ''}"] += 1
                api_statuses[f"healthz {(await api.health())[0]}"] += 1
                api_statuses[f"incidents {await status_of(api.url + '/v1/incidents')}"] += 1
                lags = [v for (n, _), v in (await ingest.metrics()).items() if n == LAG]
                lag_seen = max(lag_seen, sum(lags))
                assert await stored_offsets(fault_engine, group, topic) == offsets_before
                assert await count_incidents(fault_engine) == incidents_before
                committed = await kafka_committed(settings, settings.topic_partitions)
                assert all(committed[p] <= offsets_before.get(p, 0) for p in committed), (
                    f"Kafka offsets {committed} ran past the DB's {offsets_before}"
                )
            await during.wait()
            errors_during = (await ingest.sample("surgewatch_ingest_db_errors_total") or 0) - (
                errors_before
            )
            await proxy.restore()
            restored_at = time.monotonic()
            await eventually(
                stored(BEFORE + DURING), within=60, what="every event stored after restore"
            )
            recovery = time.monotonic() - restored_at
            status, body = await ingest.health()
            assert (status, body.get("database")) == (200, "ok")
            await api.wait_health(lambda status, _: status == 200, path="/readyz")
            api_back = time.monotonic() - restored_at
            stack.check_alive()
            assert ingest.starts == 1 and api.starts == 1, "the same processes, never restarted"
            assert await ingest.terminate() == 0
        finally:
            await stack.close()

    assert errors_during >= 2, "the failed writes were counted"
    assert failing_seen, "/healthz never said the database was failing"
    assert lag_seen >= 1, "the lag gauge never showed the unstored messages"
    assert api_statuses["readyz 503 db down"] >= 1, f"api /readyz during the cut: {api_statuses}"
    assert not [k for k in api_statuses if k.endswith(" 500")], (
        f"5xx other than 503: {api_statuses}"
    )
    assert await count_incidents(fault_engine) == load.incidents
    assert await count_incidents(fault_engine, live_only=True) == load.live
    totals = await daily_totals(fault_engine)
    assert totals == await recount(fault_engine)
    assert sum(n for n, _, _ in totals.values()) == load.live
    with capsys.disabled():
        print(
            f"\n[faults] DB cut {CUT_S:.0f}s: ingest stayed up (1 process), "
            f"{errors_during:.0f} DB errors counted, lag peaked at {lag_seen:.0f}, "
            f"offsets frozen in DB and Kafka during the cut; resumed {recovery:.1f}s after "
            f"restore; {BEFORE + DURING} events, {load.incidents} incidents, 0 lost, 0 doubled; "
            f"api during the cut: {dict(api_statuses)}, ready again {api_back:.1f}s after restore"
        )
