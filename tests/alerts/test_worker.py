"""The alerts worker against the real broker and both databases: triggers, clocks, instances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.clock import EventClock, day_close
from services.alerts.evaluator import Evaluator
from services.alerts.metrics import AlertsMetrics
from services.alerts.ownership import partition_of
from services.alerts.rules import load_rules
from services.alerts.store import AlertStore
from services.core.models import AlertRow, AlertTransitionRow
from services.core.settings import Settings
from tests.support.alerts import (
    KARACHI,
    FakeNow,
    Step,
    consume_all,
    event_of,
    eventually,
    history,
    notice,
    notice_publisher,
    publish_notices,
    publish_raw,
    running_alerts,
    surge_series,
    write_counts,
    write_rules,
)

pytestmark = pytest.mark.integration

START = date(2024, 1, 1)
SURGE_AT = 60


def alerts_settings(
    make_settings: Callable[..., Settings],
    database_url: str,
    tmp_path: Path,
    clock: str = "event_time",
    **alerts: Any,
) -> Settings:
    base = make_settings()
    tuning = {
        **base.alerts.model_dump(),
        "debounce_ms": 50,
        "tick_s": 0.3,
        **alerts,
    }
    return make_settings(
        database_url=database_url,
        clock=clock,
        rules_file=write_rules(tmp_path),
        alerts=tuning,
    )


def close(i: int) -> datetime:
    return day_close(START + timedelta(days=i), KARACHI)


async def has_state(engine: AsyncEngine, rule: str, state: str) -> bool:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AlertRow).where(AlertRow.rule == rule, AlertRow.state == state)
            )
        ).all()
    return bool(rows)


async def test_notices_trigger_evaluation_and_transitions_are_published(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = alerts_settings(make_settings, database_url, tmp_path)
    counts = surge_series(START, days=70, surge_at=SURGE_AT)
    await write_counts(engine, "PK-SD", counts)
    async with running_alerts(settings) as service:
        await publish_raw(settings, b"not a notice", key=b"PK-SD")  # logged, counted, skipped
        await publish_notices(settings, [notice("PK-SD", [d for d, _ in counts])])
        await eventually(lambda: has_state(engine, "test_surge", "firing"), what="a firing alert")
        await eventually(
            lambda: _all_published(engine), what="every transition relayed to the alerts topic"
        )
        assert (
            service.metrics.registry.get_sample_value(
                "surgewatch_alert_transitions_total", {"to": "firing"}
            )
            == 2.0
        )
        registry = service.metrics.registry
        assert registry.get_sample_value("surgewatch_alerts_errors_total", {"stage": "notice"}) == 1
        for severity, n in (("warning", 1.0), ("critical", 1.0), ("info", 0.0)):
            labels = {"province": "PK-SD", "severity": severity}
            assert registry.get_sample_value("surgewatch_alerts_active", labels) == n
        week = {"province": "PK-SD", "window": "7d"}
        # Days 63–69 at 3 a day; the baseline is days 0–62 (history starts on day 0): 60 days
        # at 1 and 3 at 3 = 69 over 9 weeks.
        assert registry.get_sample_value("surgewatch_province_incidents", week) == 21.0
        expected = registry.get_sample_value("surgewatch_province_expected_incidents", week)
        assert expected == pytest.approx(69 / 9)
        await acknowledge(engine, "test_surge", "operator-7")  # as the api does
        await eventually(lambda: _all_published(engine), what="the acknowledgement relayed")
        acked = service.metrics.registry.get_sample_value(
            "surgewatch_alert_transitions_total", {"to": "acknowledged"}
        )
        assert acked == 1.0
    records = await consume_all(settings, settings.topic_alerts)
    events = [event_of(r) for r in records]
    assert {r.key for r in records} == {b"PK-SD"}
    firing = [
        e for e in events if e["type"] == "alert.firing" and e["data"]["rule"] == "test_surge"
    ]
    assert len(firing) == 1
    data = firing[0]["data"]
    assert data["province"] == "PK-SD" and data["state"] == "firing"
    assert data["method"] == "ratio" and data["metric"] == "incidents" and data["window"] == "7d"
    assert data["observed"] == 15.0 and data["expected"] == 7.0 and data["threshold"] == 14.0
    assert data["score"] == pytest.approx(15 / 7)
    assert data["baseline_start"] and data["baseline_end"]
    assert data["severity"] == "warning" and data["alert_id"] > 0
    assert data["at"] == close(SURGE_AT + 3).isoformat() == firing[0]["time"]
    assert firing[0]["id"] == f"alert-transition-{data['seq']}"
    (ack,) = [e for e in events if e["type"] == "alert.acknowledged"]
    assert ack["data"]["alert_id"] == data["alert_id"] and ack["data"]["state"] == "firing"
    assert ack["data"]["acknowledged_by"] == "operator-7"


async def acknowledge(engine: AsyncEngine, rule: str, by: str) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        alert = (await conn.execute(select(AlertRow).where(AlertRow.rule == rule))).one()
        await conn.execute(
            update(AlertRow)
            .where(AlertRow.id == alert.id)
            .values(acknowledged_at=now, acknowledged_by=by)
        )
        await conn.execute(
            insert(AlertTransitionRow).values(
                alert_id=alert.id,
                from_state=alert.state,
                to_state="acknowledged",
                at=now,
                recorded_at=now,
                details={"by": by},
            )
        )


async def _all_published(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AlertTransitionRow.published_at))).scalars().all()
    return bool(rows) and all(p is not None for p in rows)


async def test_tick_evaluates_the_day_rollover(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = alerts_settings(make_settings, database_url, tmp_path, clock="live")
    today = date(2025, 6, 30)
    # One heavy day six days ago on a steady 1/day: the 7-day window holds it today (26 ≥ 14),
    # not tomorrow (6 + nothing yet).
    counts = [(today - timedelta(days=i), 1) for i in range(1, 60)]
    counts = [(d, 20 if d == today - timedelta(days=6) else n) for d, n in counts]
    counts.append((today, 1))
    await write_counts(engine, "PK-KP", counts)
    now = FakeNow(datetime.combine(today, time(23, 59, 50), KARACHI).astimezone(UTC))
    async with running_alerts(settings, now=now):
        await eventually(lambda: has_state(engine, "test_surge", "firing"), what="firing today")
        fired = next(h for h in await history(engine) if h[1] == "test_surge")
        assert fired[4][-1] == Step("firing", now())
        now.set(
            datetime.combine(today + timedelta(days=1), time(0, 0, 10), KARACHI).astimezone(UTC)
        )
        await eventually(
            lambda: has_state(engine, "test_surge", "resolved"), what="resolved after midnight"
        )
    resolved = next(h for h in await history(engine) if h[1] == "test_surge")
    assert resolved[4][-1] == Step("resolved", now())


async def test_late_event_re_evaluates_a_past_day(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = alerts_settings(make_settings, database_url, tmp_path)
    quiet = surge_series(START, days=100, surge_at=1000)
    await write_counts(engine, "PK-PB", quiet)
    async with running_alerts(settings) as service:
        await publish_notices(settings, [notice("PK-PB", [d for d, _ in quiet])])
        await eventually(
            lambda: _evaluated_through(service, START + timedelta(days=99)), what="caught up"
        )
        assert await history(engine) == []
        late_days = [START + timedelta(days=i) for i in range(70, 75)]
        await write_counts(engine, "PK-PB", [(d, 4) for d in late_days])
        await publish_notices(settings, [notice("PK-PB", late_days, n=1)])
        await eventually(lambda: has_state(engine, "test_surge", "resolved"), what="late alert")
        fast = [h for h in await history(engine) if h[1] == "test_surge"]
        assert len(fast) == 1 and fast[0][2] == close(72)  # opened on the day it would have
        # The late reports are retracted: the episode never happened, and consumers are told.
        await write_counts(engine, "PK-PB", [(d, 1) for d in late_days])
        await publish_notices(settings, [notice("PK-PB", late_days, n=2)])
        await eventually(lambda: _no_alerts(engine), what="the episode withdrawn")
    events = [event_of(r) for r in await consume_all(settings, settings.topic_alerts)]
    withdrawn = [e for e in events if e["data"].get("revision") == "withdrawn"]
    assert {(e["type"], e["data"]["rule"], e["data"]["state"]) for e in withdrawn} == {
        ("alert.resolved", "test_surge", "withdrawn"),
        ("alert.resolved", "test_surge_slow", "withdrawn"),
    }
    assert all(e["data"]["withdrawn"] and e["subject"] == "PK-PB" for e in withdrawn)


async def _no_alerts(engine: AsyncEngine) -> bool:
    return await history(engine) == []


async def _evaluated_through(service: Any, day: date) -> bool:
    return any(o.as_of == day and o.complete for o in service.worker.evaluated)


async def test_event_time_history_is_the_same_fast_and_slow(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Each day's counts land in two halves, each followed by its notice, as ingest batches
    make them. Slow: after every notice, wait until the worker has acted on it — so it judges
    partial days and must correct itself when the rest arrives (even withdraw a resolution).
    Fast: everything at full speed. Two provinces, so the event clock is also moved by the
    other province's days. The stored histories must be the same.
    """
    days = 48
    series = {
        "PK-BA": surge_series(START, days=days, surge_at=30, surge_days=12),
        # On day 39 the 7-day sum is exactly twice the baseline with the whole day and below
        # it with half of it: judged on the half, test_surge resolves, then must un-resolve.
        "PK-SD": surge_series(START, days=days, surge_at=30, surge_days=10, base=2, peak=5),
    }
    histories = []
    withdrawals = []
    for slow in (True, False):
        settings = alerts_settings(
            make_settings, database_url, tmp_path, group_id=f"g{slow}", debounce_ms=0
        )
        settings = settings.model_copy(
            update={"topic_accepted": f"{settings.topic_accepted}.{slow}"}
        )
        await _reset(engine)
        async with running_alerts(settings) as service, notice_publisher(settings) as send:
            for i in range(days):
                for province, counts in series.items():
                    day, n = counts[i]
                    for part, count in enumerate((n // 2, n)):
                        await write_counts(engine, province, [(day, count)])
                        tp, offset = await send(notice(province, [day], n=2 * i + part))
                        if slow and i >= 26:  # nothing can fire before 4 baseline weeks
                            await eventually(
                                lambda w=service.worker, t=tp, o=offset: _acted_on(w, t, o),
                                interval=0.005,
                            )
            last = START + timedelta(days=days - 1)
            await eventually(lambda s=service, d=last: _both_through(s, d), what="the last day")
            withdrawals.append(
                service.metrics.registry.get_sample_value("surgewatch_alerts_withdrawals_total")
            )
        histories.append(await history(engine))
    slow_history, fast_history = histories
    assert slow_history == fast_history
    assert {h[0] for h in slow_history} == {"PK-BA", "PK-SD"}
    assert withdrawals[0], "the slow run never had to correct a partial day"


async def _acted_on(worker: Any, tp: Any, offset: int) -> bool:
    return worker.acted_on().get(tp, -1) > offset


async def _both_through(service: Any, day: date) -> bool:
    done = {o.province for o in service.worker.evaluated if o.as_of == day and o.complete}
    return done >= {"PK-BA", "PK-SD"} and not service.worker.triggers.pending()


async def _reset(engine: AsyncEngine) -> None:
    from sqlalchemy import delete

    from services.core.models import AlertProgressRow, DailyCountRow

    async with engine.begin() as conn:
        for table in (AlertTransitionRow, AlertRow, AlertProgressRow, DailyCountRow):
            await conn.execute(delete(table))


async def test_two_instances_split_the_provinces(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = alerts_settings(make_settings, database_url, tmp_path)
    provinces = ["PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD"]
    partitions = {partition_of(p, settings.topic_partitions) for p in provinces}
    assert len(partitions) > 1  # the split is possible at all
    for province in provinces:
        await write_counts(engine, province, surge_series(START, days=70, surge_at=SURGE_AT))
    async with running_alerts(settings) as one, running_alerts(settings) as two:
        await eventually(
            lambda: _split(one, two, provinces), within=30, what="both instances own provinces"
        )
        await publish_notices(
            settings,
            [notice(p, [START + timedelta(days=i) for i in range(70)]) for p in provinces],
        )
        await eventually(lambda: _every_province_alerted(engine, provinces), what="alerts")
        assert one.worker.owned.isdisjoint(two.worker.owned)
        assert one.worker.owned | two.worker.owned == set(provinces)
        evaluated_one = {o.province for o in one.worker.evaluated}
        evaluated_two = {o.province for o in two.worker.evaluated}
        assert evaluated_one <= one.worker.owned and evaluated_two <= two.worker.owned
    got = await history(engine)
    keys = [(h[0], h[1], h[2]) for h in got]
    assert len(keys) == len(set(keys))  # no alert twice
    assert {h[0] for h in got if h[1] == "test_surge"} == set(provinces)
    for h in got:
        assert len(h[4]) == len(set(h[4]))  # no transition twice


async def _split(one: Any, two: Any, provinces: list[str]) -> bool:
    owned_one, owned_two = one.worker.owned, two.worker.owned
    return bool(owned_one) and bool(owned_two) and owned_one | owned_two == set(provinces)


async def _every_province_alerted(engine: AsyncEngine, provinces: list[str]) -> bool:
    got = await history(engine)
    done = {h[0] for h in got if h[1] == "test_surge" and h[3] == "firing"}
    return done == set(provinces)


async def test_a_change_without_a_notice_is_found_on_the_next_tick(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Late reports reach daily_counts, then are retracted. With notices (and no tick) and with
    the notices lost (ticks only), the stored histories must be the same at each step."""
    quiet = surge_series(START, days=100, surge_at=1000)
    late_days = [START + timedelta(days=i) for i in range(70, 75)]
    runs: dict[bool, list[Any]] = {}
    for noticed in (True, False):
        settings = alerts_settings(
            make_settings,
            database_url,
            tmp_path,
            group_id=f"g{noticed}",
            tick_s=3600 if noticed else 0.2,  # the noticed run never ticks
        )
        settings = settings.model_copy(
            update={"topic_accepted": f"{settings.topic_accepted}.{noticed}"}
        )
        await _reset(engine)
        await write_counts(engine, "PK-PB", quiet)
        steps = []
        async with running_alerts(settings) as service:  # catches up from the stored counts
            await eventually(
                lambda s=service: _province_through(s, "PK-PB", START + timedelta(days=99)),
                what="caught up",
            )
            for n, count in enumerate((4, 1), start=1):  # reported late, then retracted
                await write_counts(engine, "PK-PB", [(d, count) for d in late_days])
                if noticed:
                    await publish_notices(settings, [notice("PK-PB", late_days, n=n)])
                settled = _has_resolved if count == 4 else _no_alerts
                await eventually(lambda e=engine, c=settled: c(e), what=f"step {n} applied")
                steps.append(await history(engine))
            registry = service.metrics.registry
            steps.append(registry.get_sample_value("surgewatch_alerts_withdrawals_total"))
            reconciled = registry.get_sample_value("surgewatch_alerts_reconciled_total")
            assert reconciled == (0 if noticed else 2)
        runs[noticed] = steps
    assert runs[True] == runs[False]
    with_late, retracted, withdrawn = runs[False]
    assert [h[2] for h in with_late if h[1] == "test_surge"] == [close(72)]
    assert retracted == [] and withdrawn


async def _province_through(service: Any, province: str, day: date) -> bool:
    return any(
        o.province == province and o.as_of == day and o.complete and o.days
        for o in service.worker.evaluated
    )


async def _has_resolved(engine: AsyncEngine) -> bool:
    return await has_state(engine, "test_surge", "resolved") and await has_state(
        engine, "test_surge_slow", "resolved"
    )


async def test_a_change_made_while_alerts_is_stopped_is_found_at_start_up(
    make_settings: Callable[..., Settings], database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Late reports are stored while alerts is stopped and their notice is lost: at start-up,
    before any tick, the history becomes the one the notice would have made."""
    settings = alerts_settings(make_settings, database_url, tmp_path, tick_s=3600)
    quiet = surge_series(START, days=100, surge_at=1000)
    late = [(START + timedelta(days=i), 4) for i in range(70, 75)]
    await write_counts(engine, "PK-PB", quiet)
    async with running_alerts(settings) as service:  # catches up from the stored counts
        await eventually(
            lambda: _province_through(service, "PK-PB", START + timedelta(days=99)),
            what="caught up",
        )
    assert await history(engine) == []
    await write_counts(engine, "PK-PB", late)  # no notice
    async with running_alerts(settings) as service:
        await eventually(lambda: _has_resolved(engine), what="the late surge found at start-up")
        registry = service.metrics.registry
        assert registry.get_sample_value("surgewatch_alerts_reconciled_total") == 1
    restarted = await history(engine)

    # What the notice would have made: the same evaluations, re-evaluated from the late day.
    await _reset(engine)
    await write_counts(engine, "PK-PB", quiet)
    rules = load_rules(settings.rules_file)
    metrics = AlertsMetrics(["PK-PB"], [r.name for r in rules])
    evaluator = Evaluator(AlertStore(engine), rules, EventClock(KARACHI), metrics)
    evaluator.clock.observe(START + timedelta(days=99))
    await evaluator.evaluate("PK-PB")
    await write_counts(engine, "PK-PB", late)
    await evaluator.evaluate("PK-PB", changed_from=late[0][0])
    noticed = await history(engine)
    assert restarted == noticed
    assert [h[2] for h in restarted if h[1] == "test_surge"] == [close(72)]
