"""`surgewatch db upgrade && surgewatch ingest`, as a user runs them: processes, HTTP, signals."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Callable

import httpx
import pytest

from services.core.broker import free_port
from services.core.kafka import ensure_topics
from services.core.settings import Settings
from tests.support import events
from tests.support.faults import service_env
from tests.support.ingest import eventually, publish

pytestmark = pytest.mark.integration


def surgewatch() -> list[str]:
    script = shutil.which("surgewatch", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "services.cli"]


async def test_db_upgrade_then_ingest_consumes_a_real_topic(
    make_settings: Callable[..., Settings], tmp_path
) -> None:
    db = tmp_path / "fresh.db"
    settings: Settings = make_settings(database_url=f"sqlite+aiosqlite:///{db}")
    await ensure_topics(settings)
    port = free_port()
    env = service_env(settings, SURGEWATCH_METRICS_PORT=str(port))
    upgrade = await asyncio.create_subprocess_exec(*surgewatch(), "db", "upgrade", env=env)
    assert await upgrade.wait() == 0
    await publish(settings, [events.structured(f"s{i}") for i in range(20)] + [b"garbage"])
    log = (tmp_path / "ingest.log").open("ab")
    ingest = await asyncio.create_subprocess_exec(
        *surgewatch(), "ingest", env=env, stdout=log, stderr=log
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def scraped() -> bool:
                try:
                    text = (await http.get("/metrics")).text
                except httpx.TransportError:
                    return False
                return 'surgewatch_ingest_events_total{reason="",result="accepted"} 20.0' in text

            await eventually(scraped, within=30, what="20 accepted on /metrics")
            text = (await http.get("/metrics")).text
            assert (
                'surgewatch_ingest_events_total{reason="invalid_json",result="rejected"} 1.0'
                in text
            )
            assert 'surgewatch_ingest_events_total{reason="schema",result="rejected"} 0.0' in text
            assert "surgewatch_ingest_lag_messages{" in text
            assert "surgewatch_ingest_batch_seconds_bucket" in text
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.json()["database"] == "ok"
    finally:
        ingest.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(ingest.wait(), 30)
        log.close()
    assert code == 0


async def test_a_bad_setting_stops_start_up_naming_the_variable() -> None:
    env = {**os.environ, "SURGEWATCH_INGEST__BATCH_MAX": "lots"}
    process = await asyncio.create_subprocess_exec(
        *surgewatch(), "ingest", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert b"SURGEWATCH_INGEST__BATCH_MAX" in err
