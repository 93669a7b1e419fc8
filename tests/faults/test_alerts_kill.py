"""kill -9 of the alerts process, again and again, while the 2022–2024 demo feed is replayed.

CI size: 5 kills during a 10 s replay of the demo feed (1,651 events), two fast rules (ratio and
EARS, with `for` and `keep_firing_for`), event-time clock (SURGEWATCH_FAULTS_FULL=1: 15 kills over
40 s, the shipped rules). Ingest runs undisturbed in-process; alerts
runs as `surgewatch alerts`. After the last restart has caught up, the alert history (every alert
and its transitions, at event time) must equal an undisturbed evaluation of the same data, every
stored transition must have reached the `alerts` topic, and repeats there carry the same id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.clock import EventClock
from services.alerts.evaluator import Evaluator
from services.alerts.metrics import AlertsMetrics
from services.alerts.rules import load_rules
from services.alerts.store import AlertStore
from services.core.gazetteer import load_gazetteer
from services.core.kafka import ensure_topics
from services.core.models import AlertProgressRow, AlertRow, AlertTransitionRow, DailyCountRow
from services.core.settings import Clock, Settings
from services.feeds import demo, envelope
from tests.faults.conftest import FULL, size
from tests.support.alerts import event_of, history
from tests.support.faults import PacedPublisher, ServiceProcess, read_topic, service_env
from tests.support.ingest import eventually, running_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = size(5, 15)
REPLAY_S = size(10.0, 40.0)
# CI evaluates two fast rules (the shipped five cost ~20 s of CPU for the reference run alone);
# SURGEWATCH_FAULTS_FULL=1 uses the shipped rules file.
CI_RULES = """\
rules:
  - name: faults_ratio_4w
    metric: incidents
    window: 7d
    method: ratio
    params: {baseline_weeks: 4, factor: 2.0, min_baseline_per_week: 1.0}
    min_count: 5
    severity: warning
    for: 2d
    keep_firing_for: 7d
  - name: faults_ears_killed
    metric: killed
    window: 7d
    method: ears
    params: {variant: c2, z: 3.0, min_sigma: 1.0}
    min_count: 8
    severity: info
    for: 3d
    keep_firing_for: 7d
"""


async def newest_day(engine: AsyncEngine) -> date | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.max(DailyCountRow.day)))).scalar_one()


async def caught_up(engine: AsyncEngine, provinces: int, rules: int, last: date) -> bool:
    """Every (province, rule) evaluated through `last` and every transition relayed."""
    async with engine.connect() as conn:
        days = (await conn.execute(select(AlertProgressRow.evaluated_through))).scalars().all()
        unpublished = (
            await conn.execute(
                select(func.count()).where(AlertTransitionRow.published_at.is_(None))
            )
        ).scalar_one()
    return len(days) >= provinces * rules and set(days) == {last} and unpublished == 0


async def test_alerts_killed_during_a_replay_ends_with_the_undisturbed_history(
    fault_settings: Callable[..., Settings],
    fault_engine: AsyncEngine,
    logs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(CI_RULES)
    settings = fault_settings(
        clock=Clock.event_time,
        alerts={"tick_s": 1.0},
        **({} if FULL else {"rules_file": rules_file}),
    )
    await ensure_topics(settings)
    rules = load_rules(settings.rules_file)
    gazetteer = load_gazetteer(settings.gazetteer_file)
    events = list(demo.generate(2024))
    messages = [(envelope.key(e), envelope.encode(e)) for e in events]
    alerts = ServiceProcess("alerts", service_env(settings), logs / "alerts.log")
    rng = random.Random(5)
    started = time.monotonic()
    killed_mid_catch_up = 0
    async with running_ingest(settings) as ingest:
        replay = PacedPublisher(
            settings, settings.topic_incidents, messages, len(events) / REPLAY_S
        )
        replay.start()
        try:
            for _ in range(KILLS):
                await alerts.start()
                await alerts.wait_health(lambda status, body: bool(body.get("partitions")))
                await asyncio.sleep(rng.uniform(0.1, 1.5))
                await alerts.kill9()
                last = await newest_day(fault_engine)
                codes = len(gazetteer.codes)
                killed_mid_catch_up += not (
                    last and await caught_up(fault_engine, codes, len(rules), last)
                )
            await replay.wait()

            async def stored() -> bool:
                return ingest.events("accepted") + ingest.events("updated") >= len(events) - 10

            await eventually(stored, within=60, what="the replay stored")
            await asyncio.sleep(1)  # the last notices published
            last = await newest_day(fault_engine)
            assert last is not None
            await alerts.start()
            await alerts.wait_health(lambda status, body: bool(body.get("partitions")))

            async def done() -> bool:
                assert alerts.alive, f"alerts died: {alerts.tail()}"
                return await caught_up(fault_engine, len(gazetteer.codes), len(rules), last)

            await eventually(done, within=180, what="alerts caught up after the last restart")
            assert await alerts.terminate() == 0
        finally:
            await replay.cancel()
            await alerts.close()
    took = time.monotonic() - started
    disturbed = await history(fault_engine)
    records = await read_topic(settings, settings.topic_alerts)
    async with fault_engine.connect() as conn:
        seqs = (await conn.execute(select(AlertTransitionRow.seq))).scalars().all()

    # The same data, evaluated in one undisturbed go.
    async with fault_engine.begin() as conn:
        for table in (AlertTransitionRow, AlertRow, AlertProgressRow):
            await conn.execute(delete(table))
    clock = EventClock(gazetteer.timezone)
    clock.observe(last)
    metrics = AlertsMetrics(gazetteer.codes, [r.name for r in rules])
    evaluator = Evaluator(AlertStore(fault_engine), rules, clock, metrics)
    reference_at = time.monotonic()
    for province in gazetteer.codes:
        await evaluator.evaluate(province)
    undisturbed = await history(fault_engine)
    reference = time.monotonic() - reference_at

    assert disturbed == undisturbed
    assert len(undisturbed) >= 3, "the demo feed raises alerts (else this proves little)"
    ids = Counter(event_of(r)["id"] for r in records)
    stored_ids = {f"alert-transition-{s}" for s in seqs}
    assert stored_ids <= set(ids), "every stored transition reached the topic"
    repeats = sum(n - 1 for i, n in ids.items() if i in stored_ids)
    transitions = sum(len(h[4]) for h in disturbed)
    with capsys.disabled():
        print(
            f"\n[faults] alerts kill -9: {KILLS} kills ({killed_mid_catch_up} before catch-up) "
            f"({len(rules)} rules) during a {REPLAY_S:.0f}s replay of {len(events)} events; "
            f"caught up and equal to the undisturbed run after {took:.1f}s: "
            f"{len(disturbed)} alerts, {transitions} "
            f"transitions; topic: {len(records)} records, {repeats} repeats (same id); "
            f"the undisturbed evaluation took {reference:.1f}s"
        )
