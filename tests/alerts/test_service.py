"""`surgewatch alerts` as run: a bad rules file, kill -9 and restart, /metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.__main__ import run
from services.alerts.clock import EventClock
from services.alerts.evaluator import Evaluator
from services.alerts.metrics import AlertsMetrics
from services.alerts.rules import load_rules
from services.alerts.store import AlertStore
from services.core.broker import free_port
from services.core.db import make_engine
from services.core.kafka import ensure_topics
from services.core.models import AlertProgressRow, AlertRow, AlertTransitionRow, DailyCountRow
from services.core.settings import Settings
from tests.support.alerts import KARACHI, consume_all, event_of, eventually, history, write_rules

pytestmark = pytest.mark.integration

START = date(2023, 6, 1)
DAYS = 400
LAST = START + timedelta(days=DAYS - 1)
PROVINCES = ("PK-BA", "PK-KP", "PK-SD")  # the others stay empty


def surgewatch() -> list[str]:
    script = shutil.which("surgewatch", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "services.cli"]


async def test_a_bad_rules_file_stops_start_up_naming_file_and_line(
    make_settings: Callable[..., Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write_rules(
        tmp_path,
        "rules:\n"
        "  - name: ok\n"
        "    metric: incidents\n"
        "    window: 7d\n"
        "    method: ratoi\n"
        "    severity: warning\n",
    )
    code = await run(make_settings(rules_file=rules), install_signals=False)
    assert code == 2
    err = capsys.readouterr().err
    assert f"{rules}:5:" in err and "ratoi" in err


def counts_table() -> dict[str, np.ndarray]:
    """Two years of seeded daily counts per province, with a few surges of 2–4×."""
    rng = np.random.default_rng(7)
    out = {}
    for i, province in enumerate(PROVINCES):
        rate = np.full(DAYS, 0.4 + 0.5 * i)
        for start in rng.integers(60, DAYS - 30, size=3):
            rate[start : start + int(rng.integers(7, 28))] *= float(rng.uniform(2, 4))
        out[province] = rng.poisson(rate)
    return out


async def insert_counts(engine: AsyncEngine, table: dict[str, np.ndarray]) -> None:
    rows = [
        {
            "province": province,
            "day": START + timedelta(days=d),
            "subregion": "",
            "category": "bombing",
            "incidents": int(n),
            "killed": int(n) * 2,
            "injured": int(n) * 3,
        }
        for province, values in table.items()
        for d, n in enumerate(values)
        if n
    ]
    async with engine.begin() as conn:
        await conn.execute(DailyCountRow.__table__.insert(), rows)


async def progress(engine: AsyncEngine) -> list[date]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(AlertProgressRow.evaluated_through))
        return [r[0] for r in rows]


async def finished(engine: AsyncEngine, rules: int) -> bool:
    days = await progress(engine)
    async with engine.connect() as conn:
        unpublished = (
            await conn.execute(
                select(func.count()).where(AlertTransitionRow.published_at.is_(None))
            )
        ).scalar_one()
    return len(days) == len(PROVINCES) * rules and set(days) == {LAST} and unpublished == 0


async def test_restart_after_kill_resumes_and_matches_an_undisturbed_run(
    make_settings: Callable[..., Settings],
    database_url: str,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    rules_file = write_rules(tmp_path)
    rules = load_rules(rules_file)
    settings = make_settings(database_url=database_url, rules_file=rules_file)
    await ensure_topics(settings)
    table = counts_table()
    await insert_counts(engine, table)
    port = free_port()
    env = {
        **os.environ,
        "SURGEWATCH_DATABASE_URL": database_url,
        "SURGEWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "SURGEWATCH_TOPIC_ACCEPTED": settings.topic_accepted,
        "SURGEWATCH_TOPIC_ALERTS": settings.topic_alerts,
        "SURGEWATCH_CLOCK": "event_time",
        "SURGEWATCH_RULES_FILE": str(rules_file),
        "SURGEWATCH_ALERTS__GROUP_ID": settings.alerts.group_id,
        "SURGEWATCH_ALERTS__SESSION_TIMEOUT_MS": "1000",
        "SURGEWATCH_ALERTS__HEARTBEAT_INTERVAL_MS": "200",
        "SURGEWATCH_METRICS_PORT": str(port),
    }
    log = (tmp_path / "alerts.log").open("ab")

    async def spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *surgewatch(), "alerts", env=env, stdout=log, stderr=log
        )

    # 1. kill -9 in the middle of the catch-up (every province from its first day to LAST).
    first = await spawn()
    reader = make_engine(settings)  # no write lock: SQLite readers must not queue behind it

    async def midway() -> bool:
        return len(await progress(reader)) > 0

    await eventually(midway, within=60, what="the first committed chunk", interval=0.01)
    first.kill()
    await first.wait()
    await reader.dispose()
    at_kill = await progress(engine)
    assert len(at_kill) < len(PROVINCES) * len(rules) or min(at_kill) < LAST, "killed too late"

    # 2. restart: it resumes from the stored progress and finishes.
    restarted_at = datetime.now(UTC)
    second = await spawn()
    try:
        await eventually(lambda: finished(engine, len(rules)), within=90, what="the catch-up")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            text = (await http.get("/metrics")).text
            health = (await http.get("/healthz")).json()
        assert health["clock"] == "event_time" and health["as_of"] == LAST.isoformat()
        await check_metrics(text, table, engine, restarted_at)
    finally:
        second.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.wait_for(second.wait(), 30)
        log.close()
    assert code == 0 and time.monotonic() - started < 15

    disturbed = await history(engine)
    records = await consume_all(settings, settings.topic_alerts)
    async with engine.connect() as conn:
        seqs = (await conn.execute(select(AlertTransitionRow.seq))).scalars().all()

    # 3. the same data, evaluated in one undisturbed go.
    async with engine.begin() as conn:
        for t in (AlertTransitionRow, AlertRow, AlertProgressRow):
            await conn.execute(delete(t))
    clock = EventClock(KARACHI)
    clock.observe(LAST)
    metrics = AlertsMetrics(PROVINCES, [r.name for r in rules])
    evaluator = Evaluator(AlertStore(engine), rules, clock, metrics)
    for province in PROVINCES:
        await evaluator.evaluate(province)
    undisturbed = await history(engine)

    assert disturbed == undisturbed
    assert len(disturbed) >= len(PROVINCES)  # the seeded surges did raise alerts
    keys = [(h[0], h[1], h[2]) for h in disturbed]
    assert len(keys) == len(set(keys))
    # Every stored transition reached the topic; a repeat (published, killed before it was
    # marked) carries the same event id, so consumers can drop it.
    ids = [event_of(r)["id"] for r in records]
    assert {f"alert-transition-{s}" for s in seqs} <= set(ids)


async def check_metrics(
    text: str, table: dict[str, np.ndarray], engine: AsyncEngine, since: datetime
) -> None:
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    for province, values in table.items():
        assert value("surgewatch_province_incidents", province=province, window="7d") == float(
            values[-7:].sum()
        )
        assert value("surgewatch_province_killed", province=province, window="28d") == float(
            2 * values[-28:].sum()
        )
        assert value("surgewatch_province_injured", province=province, window="7d") == float(
            3 * values[-7:].sum()
        )
        baseline = values[-7 - 364 : -7].sum() / 52
        assert value(
            "surgewatch_province_expected_incidents", province=province, window="28d"
        ) == pytest.approx(4 * baseline)
        weeks = values[-35:-7].reshape(4, 7).sum(axis=1)
        expected = weeks.mean()
        score = values[-7:].sum() / expected if expected else 0.0
        assert value(
            "surgewatch_province_surge_score", province=province, rule="test_surge"
        ) == pytest.approx(score)
    assert value("surgewatch_province_incidents", province="PK-GB", window="28d") == 0.0
    assert value("surgewatch_province_surge_score", province="PK-GB", rule="test_surge") == 0.0
    async with engine.connect() as conn:
        open_rows = (
            await conn.execute(
                select(AlertRow.province, AlertRow.severity, func.count())
                .where(AlertRow.state == "firing")
                .group_by(AlertRow.province, AlertRow.severity)
            )
        ).all()
        sent = (
            await conn.execute(
                select(AlertTransitionRow.to_state, func.count())
                .where(AlertTransitionRow.published_at >= since)
                .group_by(AlertTransitionRow.to_state)
            )
        ).all()
    active = {(p, s): n for p, s, n in open_rows}
    for province in (*PROVINCES, "PK-GB"):
        for severity in ("info", "warning", "critical"):
            got = value("surgewatch_alerts_active", province=province, severity=severity)
            assert got == active.get((province, severity), 0)
    published = dict(sent)
    for to in ("pending", "firing", "resolved", "acknowledged"):
        got = value("surgewatch_alert_transitions_total", to=to)
        assert got == published.get(to, 0)
