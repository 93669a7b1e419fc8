"""The broker freezes (SIGSTOP of a dedicated Tansu process), then thaws (SIGCONT).

CI size: an 8 s freeze (SURGEWATCH_FAULTS_FULL=1: 30 s, beyond the 30 s Kafka request timeout).
ingest, alerts and api run as `surgewatch` processes against a broker of this test's own. While
it is frozen the api keeps answering reads from the database and says it is not ready; after it
thaws, every service carries on without a restart: the gateway publishes again, ingest stores,
alerts re-evaluates, and what was posted before, during and after the freeze is stored once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.broker import EmbeddedBroker, start_broker
from services.core.kafka import ensure_topics
from services.core.models import IncidentRow
from services.core.settings import Settings
from tests.faults.conftest import size
from tests.support.faults import Stack, pause_pid, resume_pid, service_env
from tests.support.ingest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FREEZE_S = size(8.0, 30.0)
PUBLISHER_KEY = "faults-publisher"
PROVINCE = "PK-BA"
BATCH = 20


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with start_broker(log_file=tmp_path / "tansu.log") as broker:
        yield broker
    # SIGCONT in case a failing test left it frozen, so `stop` can terminate it
    if broker.process.poll() is None:
        resume_pid(broker.process.pid)


def incident(id_: str) -> bytes:
    today = datetime.now(ZoneInfo("Asia/Karachi")).date().isoformat()
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"evt-{id_}",
            "source": "faults/gateway",
            "type": "incident.reported",
            "data": {"id": id_, "occurred_at": today, "province": PROVINCE, "category": "clash"},
        }
    )


async def post(client: httpx.AsyncClient, id_: str) -> int:
    response = await client.post(
        "/v1/incidents",
        content=incident(id_),
        headers={
            "content-type": "application/cloudevents+json",
            "authorization": f"Bearer {PUBLISHER_KEY}",
        },
        timeout=30,
    )
    return response.status_code


async def stored_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(IncidentRow.id))).scalars())


async def test_a_frozen_broker_thaws_and_every_service_carries_on(
    fault_settings: Callable[..., Settings],
    fault_engine: AsyncEngine,
    own_broker: EmbeddedBroker,
    logs: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = fault_settings(
        kafka_bootstrap=own_broker.bootstrap,
        publisher_keys=PUBLISHER_KEY,
        alerts={"debounce_ms": 100, "tick_s": 1.0},
    )
    await ensure_topics(settings)
    stack = Stack(service_env(settings), logs)
    api, alerts = stack["api"], stack["alerts"]

    async def province_7d() -> float:
        value = await alerts.sample("surgewatch_province_incidents", province=PROVINCE, window="7d")
        return value or 0.0

    try:
        await stack.start()
        pids = stack.pids()
        async with httpx.AsyncClient(base_url=api.url) as client:
            await api.wait_health(lambda status, _: status == 200, within=30, path="/readyz")
            before = [f"before-{i}" for i in range(BATCH)]
            assert [await post(client, i) for i in before] == [202] * BATCH

            def evaluated(n: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return await province_7d() >= n

                return check

            await eventually(evaluated(BATCH), within=30, what="alerts saw the first batch")

            pause_pid(own_broker.process.pid)
            frozen_at = time.monotonic()
            during = asyncio.create_task(post(client, "during-0"))
            unready = reads_ok = 0
            while time.monotonic() - frozen_at < FREEZE_S:
                stack.check_alive()
                unready += (await client.get("/readyz", timeout=10)).status_code == 503
                reads_ok += (await client.get("/v1/picture", timeout=10)).status_code == 200
                await asyncio.sleep(0.5)
            resume_pid(own_broker.process.pid)
            thawed_at = time.monotonic()
            during_status = await during

            after = [f"after-{i}" for i in range(BATCH)]
            statuses = []
            for id_ in after:  # a publisher retries a 503 until the gateway takes the event
                deadline = time.monotonic() + 60
                while (status := await post(client, id_)) != 202 and time.monotonic() < deadline:
                    statuses.append(status)
                    await asyncio.sleep(0.5)
                assert status == 202, f"the gateway never took {id_} (last {status})"
                statuses.append(status)
            gateway_back = time.monotonic() - thawed_at

            async def all_stored() -> bool:
                return set(before + after) <= await stored_ids(fault_engine)

            await eventually(all_stored, within=90, what="every accepted event stored")
            ingest_back = time.monotonic() - thawed_at
            await eventually(evaluated(2 * BATCH), within=90, what="alerts evaluated again")
            alerts_back = time.monotonic() - thawed_at
            await api.wait_health(lambda status, _: status == 200, within=60, path="/readyz")
            picture: dict = {}

            async def picture_caught_up() -> bool:
                # The api refreshes its cached picture on a poll of the change token (a moment).
                nonlocal picture
                picture = (await client.get("/v1/picture")).json()
                counts = {p["code"]: p["incidents_7d"] for p in picture["provinces"]}
                return counts[PROVINCE] >= 2 * BATCH

            await eventually(picture_caught_up, within=10, what="the picture's counts")
        stack.check_alive()
        assert stack.pids() == pids and all(p.starts == 1 for p in stack.procs.values())
        for service in ("ingest", "alerts"):
            assert (await stack[service].health())[0] == 200, service
    finally:
        resume_pid(own_broker.process.pid)
        await stack.close()

    stored = await stored_ids(fault_engine)
    assert "during-0" in stored or during_status != 202, "a 202 means it will be stored"
    by_code = {p["code"]: p for p in picture["provinces"]}
    assert by_code[PROVINCE]["incidents_7d"] >= 2 * BATCH
    assert unready >= 1, "/readyz said unready while the broker was frozen"
    assert reads_ok >= 1, "reads kept working from the database"
    with capsys.disabled():
        print(
            f"\n[faults] broker frozen {FREEZE_S:.0f}s: no service restarted; api /readyz 503 "
            f"{unready}×, /v1/picture 200 {reads_ok}×; POST during the freeze → {during_status} "
            f"(stored: {'during-0' in stored}); after SIGCONT the gateway took events after "
            f"{gateway_back:.1f}s ({statuses.count(503)} 503s first), ingest stored all after "
            f"{ingest_back:.1f}s, alerts re-evaluated after {alerts_back:.1f}s"
        )
