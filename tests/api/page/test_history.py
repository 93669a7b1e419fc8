"""The page's look back: months, alert days, who was on alert when (pure, tables of cases)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.api.page.history import (
    MONTHS,
    MonthCount,
    active_span,
    compute_history,
    day_of,
    month_runs,
    month_starts,
)
from services.core.gazetteer import load_gazetteer
from tests.api.page.alerts import PKT, close, fired

GAZ = load_gazetteer()
AS_OF = date(2024, 12, 31)


@pytest.mark.parametrize(
    ("as_of_day", "months", "first", "last"),
    [
        (date(2024, 12, 31), 36, date(2022, 1, 1), date(2024, 12, 1)),
        (date(2024, 3, 5), 3, date(2024, 1, 1), date(2024, 3, 1)),
        (date(2024, 2, 29), 4, date(2023, 11, 1), date(2024, 2, 1)),
        (date(2024, 1, 1), 1, date(2024, 1, 1), date(2024, 1, 1)),
    ],
)
def test_month_starts(as_of_day: date, months: int, first: date, last: date) -> None:
    starts = month_starts(as_of_day, months)
    assert len(starts) == months and starts[0] == first and starts[-1] == last
    assert all(m.day == 1 for m in starts) and starts == sorted(set(starts))


@pytest.mark.parametrize(
    ("instant", "clock", "day"),
    [
        (datetime(2024, 8, 24, 19, tzinfo=UTC), "event_time", date(2024, 8, 24)),  # D's close
        (datetime(2024, 8, 24, 19, tzinfo=UTC), "live", date(2024, 8, 25)),  # PKT midnight
        (datetime(2024, 8, 24, 18, 59), "live", date(2024, 8, 24)),  # naive: UTC
        (datetime(2024, 8, 24, 12, tzinfo=UTC), "event_time", date(2024, 8, 24)),
    ],
)
def test_day_of_reads_stamps_as_each_clock_makes_them(
    instant: datetime, clock: str, day: date
) -> None:
    assert day_of(instant, PKT, clock) == day


@pytest.mark.parametrize(
    ("fired_day", "resolved_day", "span"),
    [
        # firing up to, not including, the day it resolved
        (date(2024, 4, 22), date(2024, 6, 1), (date(2024, 4, 22), date(2024, 5, 31))),
        # still firing: through as_of
        (date(2024, 12, 20), None, (date(2024, 12, 20), AS_OF)),
        # fired and resolved on the same day: that day
        (date(2024, 3, 3), date(2024, 3, 3), (date(2024, 3, 3), date(2024, 3, 3))),
    ],
)
def test_active_span(fired_day: date, resolved_day: date | None, span: tuple[date, date]) -> None:
    assert active_span(fired(fired_day, resolved_day), PKT, "event_time", AS_OF) == span


@pytest.mark.parametrize(
    ("flagged", "text"),
    [
        ("", ""),
        ("2023-08", "Aug 2023"),
        ("2023-08 2023-11 2023-12 2024-04 2024-05 2024-08", "Aug, Nov–Dec 2023; Apr–May, Aug 2024"),
        ("2023-12 2024-01", "Dec 2023–Jan 2024"),
        ("2022-01 2023-11 2023-12 2024-01 2024-04", "Jan 2022; Nov 2023–Jan 2024; Apr 2024"),
    ],
)
def test_month_runs(flagged: str, text: str) -> None:
    months = month_starts(AS_OF)
    on = {date.fromisoformat(f"{m}-01") for m in flagged.split()}
    assert month_runs(months, [m in on for m in months]) == text


def test_history_buckets_months_and_marks_the_months_on_alert() -> None:
    monthly = [
        MonthCount("PK-BA", 2022, 1, 7),
        MonthCount("PK-BA", 2024, 4, 30),
        MonthCount("PK-BA", 2024, 12, 34),
        MonthCount("PK-KP", 2024, 12, 20),
        MonthCount("PK-BA", 2021, 12, 99),  # before the months shown
        MonthCount("PK-XX", 2024, 12, 5),  # not in the gazetteer
    ]
    alerts = [
        fired(date(2024, 4, 19), date(2024, 5, 16), id_=1),
        fired(date(2024, 4, 22), date(2024, 6, 1), severity="critical", id_=2),
        fired(date(2024, 8, 19), date(2024, 9, 17), province="Baluchistan", id_=3),
        fired(date(2021, 12, 20), date(2022, 1, 10), province="PK-KP", severity="info", id_=4),
    ]
    history = compute_history(
        GAZ, as_of_day=AS_OF, clock="event_time", monthly=monthly, fired=alerts,
        latest_fired=alerts[::-1], fired_total=7, cleared_unfired=48,
    )  # fmt: skip
    assert len(history.months) == MONTHS and not history.partial_last
    ba = next(s for s in history.provinces if s.code == "PK-BA")
    assert (ba.counts[0], ba.counts[27], ba.counts[35], sum(ba.counts)) == (7, 30, 34, 71)
    on = {history.months[i]: level for i, level in enumerate(ba.levels) if level}
    assert on == {
        date(2024, 4, 1): "critical",  # the critical one outranks the warning
        date(2024, 5, 1): "critical",
        date(2024, 8, 1): "surge",  # an alias resolves to its province
        date(2024, 9, 1): "surge",
    }
    assert ba.fired == 3
    kp = next(s for s in history.provinces if s.code == "PK-KP")
    # It fired before the months shown: its firing days in them count, the firing does not.
    assert kp.levels[0] == "elevated" and kp.fired == 0 and kp.counts[35] == 20
    assert history.national.counts[35] == 54 and history.national.fired == 3
    assert [m for m, lv in zip(history.months, history.national.levels, strict=True) if lv] == [
        date(2022, 1, 1), date(2024, 4, 1), date(2024, 5, 1), date(2024, 8, 1), date(2024, 9, 1),
    ]  # fmt: skip
    assert [(e.alert.id, e.fired_day, e.resolved_day) for e in history.latest_fired[:2]] == [
        (4, date(2021, 12, 20), date(2022, 1, 10)),
        (3, date(2024, 8, 19), date(2024, 9, 17)),
    ]
    assert (history.fired_total, history.cleared_unfired) == (7, 48)


def test_a_partial_month_and_an_alert_still_firing() -> None:
    as_of = date(2024, 12, 20)
    history = compute_history(
        GAZ, as_of_day=as_of, clock="event_time", monthly=[],
        fired=[fired(date(2024, 11, 28))], latest_fired=[fired(date(2024, 11, 28))],
        fired_total=1, cleared_unfired=0,
    )  # fmt: skip
    assert history.partial_last and history.through == as_of
    ba = next(s for s in history.provinces if s.code == "PK-BA")
    assert ba.levels[-2:] == ["surge", "surge"] and ba.levels.count(None) == MONTHS - 2
    assert history.latest_fired[0].resolved_day is None


def test_the_live_clock_reads_wall_times() -> None:
    stamp = close(date(2024, 5, 31))  # midnight PKT that starts June 1
    alert = fired(date(2024, 5, 31)).model_copy(update={"fired_at": stamp})
    history = compute_history(
        GAZ, as_of_day=date(2024, 6, 15), clock="live", monthly=[], fired=[alert],
        latest_fired=[alert], fired_total=1, cleared_unfired=0,
    )  # fmt: skip
    assert history.latest_fired[0].fired_day == date(2024, 6, 1)
    ba = next(s for s in history.provinces if s.code == "PK-BA")
    assert ba.levels[-2:] == [None, "surge"]
