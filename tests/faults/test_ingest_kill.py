"""kill -9 of the ingest process at random moments while a load is being published.

CI size: 12 kills during 30,000 events (SURGEWATCH_FAULTS_FULL=1: 20 kills during 200,000); each
kill lands at a random moment up to 0.8 s after the restarted process got its partitions.
The load holds new incidents, corrections, re-sends, retractions and rejects (tests/faults/load);
the database must end exactly where an undisturbed run would, and no change may be announced
twice on `incidents.accepted`. Notices are published after the DB commit, so a kill between the
commit and the publish may lose a notice (the DB stays right; alerts re-evaluate on the clock):
the test counts those losses and reports them, and fails on any second notice for one change.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.gazetteer import load_gazetteer
from services.core.kafka import ensure_topics
from services.core.models import IncidentVersionRow, RejectionRow
from services.core.settings import Settings
from tests.faults.checks import count_rows, dlq_positions, notice_keys, stored_messages
from tests.faults.conftest import size
from tests.faults.load import build_load
from tests.support.faults import PacedPublisher, ServiceProcess, read_topic, service_env
from tests.support.ingest import count_incidents, daily_totals, eventually, recount

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = size(30_000, 200_000)
KILLS = size(12, 20)
LIFE_S = 3.0  # rough length of one start-consume-kill cycle, to spread the load over the kills


async def test_kill_9_at_random_moments_during_load_loses_and_doubles_nothing(
    fault_settings: Callable[..., Settings],
    fault_engine: AsyncEngine,
    logs,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = fault_settings(ingest={"batch_max": 500})
    group, topic = settings.ingest.group_id, settings.topic_incidents
    await ensure_topics(settings)
    load = build_load(TOTAL, seed=20)
    ingest = ServiceProcess("ingest", service_env(settings), logs / "ingest.log")
    publisher = PacedPublisher(settings, topic, load.messages, rate=TOTAL / (KILLS * LIFE_S))
    rng = random.Random(9)
    in_flight = progressed = 0
    started = time.monotonic()
    publisher.start()
    try:
        for _ in range(KILLS):
            stored_before = await stored_messages(fault_engine, group, topic)
            await ingest.start()
            await ingest.wait_health(lambda status, body: bool(body.get("partitions")))
            await asyncio.sleep(rng.uniform(0.0, 0.8))
            backlog = publisher.sent - await stored_messages(fault_engine, group, topic)
            await ingest.kill9()
            stored_after = await stored_messages(fault_engine, group, topic)
            in_flight += backlog > 0
            progressed += stored_after > stored_before
        kill_phase = time.monotonic() - started
        await publisher.wait()
        await ingest.start()

        async def all_stored() -> bool:
            assert ingest.alive, f"ingest died: {ingest.tail()}"
            return await stored_messages(fault_engine, group, topic) == TOTAL

        await eventually(all_stored, within=300, what=f"all {TOTAL} messages stored")
        assert await ingest.terminate() == 0, "clean exit on SIGTERM"
    finally:
        await publisher.cancel()
        await ingest.close()
    elapsed = time.monotonic() - started

    # The kills were real: most of them found unstored messages, and lives made progress.
    assert in_flight >= KILLS // 2, f"only {in_flight} kills found a backlog"
    assert progressed >= KILLS // 4, f"only {progressed} lives stored anything"

    # The database is exactly what the load implies.
    assert await count_incidents(fault_engine) == load.incidents
    assert await count_incidents(fault_engine, live_only=True) == load.live
    totals = await daily_totals(fault_engine)
    assert totals == load.totals(load_gazetteer(settings.gazetteer_file))
    assert totals == await recount(fault_engine)
    assert await count_rows(fault_engine, IncidentVersionRow) == load.incidents + load.corrections
    assert await count_rows(fault_engine, RejectionRow) == load.rejects
    assert "Traceback" not in ingest.log_path.read_text(), "ingest logged a traceback"

    # After-commit publishing: at most once per change, and per rejected message.
    notices = notice_keys(await read_topic(settings, settings.topic_accepted))
    doubled = {k: n for k, n in notices.items() if n > 1}
    assert not doubled, f"{len(doubled)} changes announced twice, e.g. {next(iter(doubled))}"
    dlq = dlq_positions(await read_topic(settings, settings.topic_dlq))
    assert max(dlq.values(), default=1) == 1, "a rejected message reached the DLQ twice"
    assert len(dlq) <= load.rejects
    announced = {(source, id_) for _, source, id_, _, _ in notices}
    with capsys.disabled():
        print(
            f"\n[faults] ingest kill -9: {KILLS} kills ({in_flight} with a backlog, "
            f"{progressed} lives stored something) during {TOTAL} events in {kill_phase:.1f}s; "
            f"all stored after {elapsed:.1f}s; {load.incidents} incidents ({load.live} live), "
            f"{load.corrections} corrections, {load.retractions} retractions, "
            f"{load.duplicates} re-sends, {load.rejects} rejects; notices: {notices.total()} "
            f"({len(announced)}/{load.incidents} incidents announced, 0 doubled); "
            f"DLQ {len(dlq)}/{load.rejects}; {ingest.starts} process starts"
        )
