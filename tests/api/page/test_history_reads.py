"""The page's look back read from the database with the picture (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

from services.api.page.history import MONTHS, month_starts
from tests.api.conftest import Api
from tests.api.rows import Rows, at_noon, today


def month_of(day: date) -> date:
    return day.replace(day=1)


async def test_months_and_fired_alerts_are_read_with_the_picture(api: Api, rows: Rows) -> None:
    day0 = today()
    first = month_starts(day0)[0]
    await rows.daily(
        "PK-BA",
        {
            first - timedelta(days=1): (50, 0, 0),  # the month before those shown
            first: (3, 0, 0),
            first + timedelta(days=1): (2, 1, 0),
            day0: (4, 1, 1),
        },
    )
    await rows.counts("PK-KP", day0, 2, subregion="PK-TA")
    await rows.counts("PK-KP", day0, 1, category="bombing")
    # A surge that fired and resolved, one that never fired, and one firing now.
    surge_start, surge_end = at_noon(day0 - timedelta(days=100)), at_noon(day0 - timedelta(days=80))
    await rows.alert("PK-BA", state="resolved", started=surge_start, resolved=surge_end)
    await rows.alert(
        "PK-SD", state="resolved", fires=False, started=surge_start, resolved=surge_end
    )
    await rows.alert("PK-KP", severity="critical", rule="record_30d_2y")
    await api.refresh()

    history = api.context.refresher.history
    assert history is not None and history.through == day0 and len(history.months) == MONTHS
    ba = next(s for s in history.provinces if s.code == "PK-BA")
    kp = next(s for s in history.provinces if s.code == "PK-KP")
    assert (ba.counts[0], ba.counts[-1], sum(ba.counts)) == (5, 4, 9)
    assert kp.counts[-1] == 3 and history.national.counts[-1] == 3 + ba.counts[-1]
    # Live clock: it fired two days after it started and was firing until the day it resolved.
    fired_day, last_day = (day0 - timedelta(days=98)), (day0 - timedelta(days=81))
    on_alert = {m for m, level in zip(history.months, ba.levels, strict=True) if level}
    assert on_alert == {month_of(fired_day), month_of(last_day)} and ba.fired == 1
    assert kp.levels[-1] == "critical"
    newest = [(e.alert.province, e.fired_day, e.resolved_day) for e in history.latest_fired]
    assert newest == [
        ("PK-KP", day0 - timedelta(days=1), None),
        ("PK-BA", fired_day, day0 - timedelta(days=80)),
    ]
    assert (history.fired_total, history.cleared_unfired) == (2, 1)


async def test_nothing_yet(api: Api) -> None:
    history = api.context.refresher.history
    assert history is not None and history.latest_fired == []
    assert sum(history.national.counts) == 0 and not any(history.national.levels)
    assert (history.fired_total, history.cleared_unfired) == (0, 0)
