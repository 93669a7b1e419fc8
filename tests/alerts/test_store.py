"""The alerts store against the real databases: transitions, one open alert, acks, progress."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.clock import EventClock, day_close
from services.alerts.digest import floor_to_block
from services.alerts.evaluator import Evaluator
from services.alerts.metrics import AlertsMetrics
from services.alerts.rules import load_rules
from services.alerts.store import AlertStore, utc
from services.core.models import AlertProgressRow, AlertRow, AlertTransitionRow
from services.core.settings import DEFAULT_RULES_FILE
from tests.support.alerts import KARACHI, Step, history, surge_series, write_counts, write_rules

pytestmark = pytest.mark.integration

START = date(2024, 1, 1)
SURGE_AT = 60  # day index where the tripled counts begin (2024-03-01)


def evaluator(engine: AsyncEngine, tmp_path: Path) -> Evaluator:
    rules = load_rules(write_rules(tmp_path))
    metrics = AlertsMetrics(["PK-BA", "PK-SD"], [r.name for r in rules])
    return Evaluator(AlertStore(engine), rules, EventClock(KARACHI), metrics)


def close(i: int) -> datetime:
    return day_close(START + timedelta(days=i), KARACHI)


async def test_event_time_stores_every_transition_once(engine: AsyncEngine, tmp_path: Path) -> None:
    ev = evaluator(engine, tmp_path)
    await write_counts(engine, "PK-BA", surge_series(START, days=100, surge_at=SURGE_AT))
    ev.clock.observe(START + timedelta(days=99))
    outcome = await ev.evaluate("PK-BA")
    assert outcome.complete and outcome.as_of == START + timedelta(days=99)

    # Hand-computed: baseline 7/week; the 7-day sum reaches 14 (= 2 × 7) on the 4th surge day
    # (3 days at 1 + 4 at 3 = 15) and falls below twice the (now surge-inflated) 4-week mean
    # before the surge ends: the test_surge episode opens at once (for 0d) on day 63.
    got = await history(engine)
    fast = [h for h in got if h[1] == "test_surge"]
    assert fast, got
    province, _, started, state, steps = fast[0]
    assert province == "PK-BA" and state == "resolved"
    assert started == close(SURGE_AT + 3)
    assert steps[:2] == (Step("pending", close(SURGE_AT + 3)), Step("firing", close(SURGE_AT + 3)))
    assert steps[-1].to == "resolved"
    # for 2d: pending on day 63, firing on day 65 (still true), resolved after keep 3d.
    slow = [h for h in got if h[1] == "test_surge_slow"]
    assert [s.to for s in slow[0][4]] == ["pending", "firing", "resolved"]
    assert slow[0][4][1].at == close(SURGE_AT + 5)

    # Evaluating again changes nothing: same rows, same seqs.
    async with engine.connect() as conn:
        before = (await conn.execute(select(AlertTransitionRow.seq))).scalars().all()
    again = await ev.evaluate("PK-BA", changed_from=START)
    assert again.written == 0 and not again.withdrawals
    async with engine.connect() as conn:
        after = (await conn.execute(select(AlertTransitionRow.seq))).scalars().all()
        progress = (await conn.execute(select(AlertProgressRow))).all()
    assert sorted(before) == sorted(after)
    assert {(p.province, p.evaluated_through) for p in progress} == {
        ("PK-BA", START + timedelta(days=99))
    }


async def test_one_open_alert_per_province_and_rule(engine: AsyncEngine, tmp_path: Path) -> None:
    ev = evaluator(engine, tmp_path)
    counts = surge_series(START, days=75, surge_at=SURGE_AT, surge_days=15)
    await write_counts(engine, "PK-BA", counts)
    ev.clock.observe(START + timedelta(days=74))
    await ev.evaluate("PK-BA")
    async with engine.connect() as conn:
        open_rows = (
            await conn.execute(select(AlertRow).where(AlertRow.state.in_(("pending", "firing"))))
        ).all()
    assert len(open_rows) >= 1
    row = open_rows[0]
    columns = [c.name for c in AlertRow.__table__.columns if c.name != "id"]
    duplicate = {c: getattr(row, c) for c in columns}
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(AlertRow).values(**duplicate))


async def test_acknowledgement_survives_later_evaluations(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ev = evaluator(engine, tmp_path)
    counts = surge_series(START, days=100, surge_at=SURGE_AT, surge_days=15)
    await write_counts(engine, "PK-BA", counts[:66])
    ev.clock.observe(START + timedelta(days=65))
    await ev.evaluate("PK-BA")
    async with engine.connect() as conn:
        alert = (
            await conn.execute(select(AlertRow).where(AlertRow.rule == "test_surge_slow"))
        ).one()
    assert alert.state == "firing"
    acked = datetime(2024, 3, 7, 9, 0, tzinfo=UTC)
    async with engine.begin() as conn:  # what the api does on POST /v1/alerts/{id}/ack
        await conn.execute(
            update(AlertRow)
            .where(AlertRow.id == alert.id)
            .values(acknowledged_at=acked, acknowledged_by="operator-1")
        )
        await conn.execute(
            insert(AlertTransitionRow).values(
                alert_id=alert.id,
                from_state="firing",
                to_state="acknowledged",
                at=acked,
                recorded_at=acked,
                details={"by": "operator-1"},
            )
        )
    await write_counts(engine, "PK-BA", counts[66:])
    ev.clock.observe(START + timedelta(days=99))
    await ev.evaluate("PK-BA", changed_from=START + timedelta(days=66))
    async with engine.connect() as conn:
        after = (await conn.execute(select(AlertRow).where(AlertRow.id == alert.id))).one()
        acks = (
            await conn.execute(
                select(AlertTransitionRow).where(AlertTransitionRow.to_state == "acknowledged")
            )
        ).all()
    assert after.state == "resolved"
    assert after.acknowledged_by == "operator-1"
    assert after.acknowledged_at is not None
    assert after.acknowledged_at.replace(tzinfo=UTC) == acked
    assert len(acks) == 1 and acks[0].alert_id == alert.id


async def test_late_event_rewrites_history_from_its_day(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    ev = evaluator(engine, tmp_path)
    quiet = surge_series(START, days=100, surge_at=1000)  # no surge at all
    await write_counts(engine, "PK-BA", quiet)
    ev.clock.observe(START + timedelta(days=99))
    await ev.evaluate("PK-BA")
    assert await history(engine) == []
    # Late reports: days 70–74 had 4 incidents each. Re-evaluating from day 70 opens the alert
    # on the day it would have opened, not today.
    late = [(START + timedelta(days=i), 4) for i in range(70, 75)]
    await write_counts(engine, "PK-BA", late)
    outcome = await ev.evaluate("PK-BA", changed_from=START + timedelta(days=70))
    assert outcome.written > 0
    fast = [h for h in await history(engine) if h[1] == "test_surge"]
    assert fast and fast[0][2] == close(72)  # 1+1+1+1+4+4+4 = 16 ≥ 14 on day 72

    # A retraction of those reports withdraws the episode altogether.
    await write_counts(engine, "PK-BA", [(START + timedelta(days=i), 1) for i in range(70, 75)])
    outcome = await ev.evaluate("PK-BA", changed_from=START + timedelta(days=70))
    assert outcome.withdrawals
    assert await history(engine) == []


async def test_the_shipped_rules_raise_a_surge(engine: AsyncEngine) -> None:
    """The shipped rules file through the store: 2½ quiet years at ~5/week, then 4 weeks at 3×."""
    rules = load_rules(DEFAULT_RULES_FILE)
    metrics = AlertsMetrics(["PK-BA"], [r.name for r in rules])
    ev = Evaluator(AlertStore(engine), rules, EventClock(KARACHI), metrics)
    rng = np.random.default_rng(11)
    days = 900
    rate = np.full(days, 5 / 7)
    rate[days - 28 :] *= 3
    counts = [(START + timedelta(days=i), int(n)) for i, n in enumerate(rng.poisson(rate))]
    await write_counts(engine, "PK-BA", counts)
    ev.clock.observe(counts[-1][0])
    await ev.evaluate("PK-BA")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AlertRow))).all()
    firing = {r.rule for r in rows if r.fired_at and utc(r.fired_at) >= close(days - 28)}
    assert firing, [(r.rule, r.state, r.started_at) for r in rows]
    assert all(r.explanation["finding"]["method"] == r.method for r in rows)
    score = metrics.registry.get_sample_value(
        "surgewatch_province_surge_score", {"province": "PK-BA", "rule": "threat_ratio_52w"}
    )
    assert score is not None and score > 2


async def test_a_change_without_a_notice_is_found_and_re_evaluated_as_a_notice_would(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Two provinces with the same data and the same late reports: PK-BA is re-evaluated from
    the day its notice names, PK-SD from what `changed_days` finds. Same histories."""
    ev = evaluator(engine, tmp_path)
    quiet = surge_series(START, days=100, surge_at=1000)
    for province in ("PK-BA", "PK-SD"):
        await write_counts(engine, province, quiet)
    ev.clock.observe(START + timedelta(days=99))
    for province in ("PK-BA", "PK-SD"):
        await ev.evaluate(province)
    assert await ev.changed_days(["PK-BA", "PK-SD"]) == {}

    late_day = START + timedelta(days=70)
    late = [(late_day + timedelta(days=i), 4) for i in range(5)]
    for province in ("PK-BA", "PK-SD"):
        await write_counts(engine, province, late)
    found = await ev.changed_days(["PK-BA", "PK-SD", "PK-KP"])
    assert found == {"PK-BA": floor_to_block(late_day), "PK-SD": floor_to_block(late_day)}
    await ev.evaluate("PK-BA", changed_from=late_day)  # as the notice makes it
    assert await ev.changed_days(["PK-BA", "PK-SD"]) == {"PK-SD": floor_to_block(late_day)}
    await ev.evaluate("PK-SD", changed_from=found["PK-SD"])
    assert await ev.changed_days(["PK-BA", "PK-SD"]) == {}

    ba, sd = await histories_of(engine, "PK-BA", "PK-SD")
    assert ba and ba == sd
    assert ba[0][1] == close(72)  # the late surge, on the day it would have opened

    # The late reports are retracted, again with and without the notice: both withdrawn.
    for province in ("PK-BA", "PK-SD"):
        await write_counts(engine, province, [(d, 1) for d, _ in late])
    await ev.evaluate("PK-BA", changed_from=late_day)
    outcome = await ev.evaluate("PK-SD", changed_from=(await ev.changed_days(["PK-SD"]))["PK-SD"])
    assert outcome.withdrawals
    assert await history(engine) == []
    assert await ev.changed_days(["PK-BA", "PK-SD"]) == {}


async def histories_of(engine: AsyncEngine, *provinces: str) -> list[list[tuple[object, ...]]]:
    got = await history(engine)
    return [[h[1:] for h in got if h[0] == p] for p in provinces]


async def test_an_unknown_digest_is_re_evaluated_once_from_the_first_day(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Progress written before the digests existed (NULL): re-evaluated from the first block with
    data, which rewrites nothing when nothing changed, and stores the digest."""
    ev = evaluator(engine, tmp_path)
    await write_counts(engine, "PK-BA", surge_series(START, days=100, surge_at=SURGE_AT))
    ev.clock.observe(START + timedelta(days=99))
    await ev.evaluate("PK-BA")
    before = await history(engine)
    async with engine.begin() as conn:
        await conn.execute(update(AlertProgressRow).values(data_digest=null()))
    found = await ev.changed_days(["PK-BA"])
    assert found == {"PK-BA": floor_to_block(START)}
    outcome = await ev.evaluate("PK-BA", changed_from=found["PK-BA"])
    assert outcome.written == 0 and not outcome.withdrawals
    assert await history(engine) == before
    assert await ev.changed_days(["PK-BA"]) == {}


async def test_alerts_active_counts_firing_alerts_only(engine: AsyncEngine, tmp_path: Path) -> None:
    """surgewatch_alerts_active: firing alerts (acknowledged or not); pending ones are not."""
    ev = evaluator(engine, tmp_path)
    await write_counts(engine, "PK-BA", surge_series(START, days=70, surge_at=SURGE_AT))

    def active(severity: str) -> float | None:
        labels = {"province": "PK-BA", "severity": severity}
        return ev.metrics.registry.get_sample_value("surgewatch_alerts_active", labels)

    # Day 63: test_surge (warning, for 0d) fires; test_surge_slow (critical, for 2d) is pending.
    ev.clock.observe(START + timedelta(days=SURGE_AT + 3))
    await ev.evaluate("PK-BA")
    assert await states(engine) == {"test_surge": "firing", "test_surge_slow": "pending"}
    assert (active("warning"), active("critical"), active("info")) == (1.0, 0.0, 0.0)
    # Day 65: both fire; an acknowledgement does not take one out of the count.
    await acknowledge_all(engine)
    ev.clock.observe(START + timedelta(days=SURGE_AT + 5))
    await ev.evaluate("PK-BA")
    assert await states(engine) == {"test_surge": "firing", "test_surge_slow": "firing"}
    assert (active("warning"), active("critical")) == (1.0, 1.0)


async def states(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AlertRow.rule, AlertRow.state))).all()
    return {rule: state for rule, state in rows}


async def acknowledge_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(AlertRow).values(acknowledged_at=datetime.now(UTC), acknowledged_by="op")
        )
