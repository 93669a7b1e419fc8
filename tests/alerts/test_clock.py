"""The two clocks, debounced triggers and province ownership: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiokafka import TopicPartition

from services.alerts.clock import (
    EventClock,
    LiveClock,
    closed_day,
    day_close,
    local_day,
    make_clock,
)
from services.alerts.ownership import owned, partition_of
from services.alerts.triggers import Triggers
from services.core.settings import Clock

KARACHI = ZoneInfo("Asia/Karachi")  # UTC+5, no daylight saving


def test_day_close_is_local_midnight_in_utc_and_inverts() -> None:
    d = date(2024, 3, 5)
    assert day_close(d, KARACHI) == datetime(2024, 3, 5, 19, 0, tzinfo=UTC)
    assert closed_day(day_close(d, KARACHI), KARACHI) == d


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2024, 3, 5, 18, 59, tzinfo=UTC), date(2024, 3, 5)),
        (datetime(2024, 3, 5, 19, 0, tzinfo=UTC), date(2024, 3, 6)),  # midnight in Karachi
        (datetime(2024, 3, 5, 23, 0), date(2024, 3, 6)),  # naive = UTC
    ],
)
def test_local_day(moment: datetime, expected: date) -> None:
    assert local_day(moment, KARACHI) == expected


def test_live_clock_is_today_where_the_provinces_are_and_stamps_wall_time() -> None:
    now = datetime(2025, 6, 30, 19, 0, 5, tzinfo=UTC)
    clock = LiveClock(KARACHI, lambda: now)
    assert clock.as_of() == date(2025, 7, 1)
    assert clock.stamp(date(2020, 1, 1)) == now
    assert clock.observe(date(2030, 1, 1)) is False and clock.as_of() == date(2025, 7, 1)


def test_event_clock_only_moves_forward_and_stamps_day_closes() -> None:
    clock = EventClock(KARACHI)
    assert clock.as_of() is None
    assert clock.observe(date(2024, 1, 10)) is True
    assert clock.observe(date(2024, 1, 3)) is False
    assert clock.observe(date(2024, 1, 10)) is False
    assert clock.as_of() == date(2024, 1, 10)
    assert clock.stamp(date(2024, 1, 3)) == day_close(date(2024, 1, 3), KARACHI)
    assert make_clock(Clock.event_time, KARACHI).kind == Clock.event_time
    assert make_clock(Clock.live, KARACHI).kind == Clock.live


TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)


def test_notices_are_debounced_per_province_and_keep_the_earliest_day() -> None:
    triggers = Triggers(debounce_s=0.5)
    triggers.notice("PK-BA", date(2024, 1, 9), TP0, 10, now=100.0)
    triggers.notice("PK-BA", date(2024, 1, 2), TP0, 11, now=100.4)  # joins, does not push back
    triggers.notice("PK-SD", date(2024, 1, 5), TP1, 3, now=100.2)
    assert triggers.pop_due(100.49) == []
    (ba,) = triggers.pop_due(100.5)
    assert (ba.province, ba.changed_from, ba.offsets) == ("PK-BA", date(2024, 1, 2), {TP0: 10})
    assert triggers.next_at() == pytest.approx(100.7)
    assert triggers.pending() == ["PK-SD"]


def test_offsets_commit_only_past_evaluated_notices() -> None:
    triggers = Triggers(debounce_s=0.0)
    triggers.notice("PK-BA", None, TP0, 10, now=0.0)
    triggers.notice("PK-SD", None, TP1, 4, now=0.0)
    positions = {TP0: 12, TP1: 5}
    assert triggers.committable(positions) == {TP0: 10, TP1: 4}
    (ba, sd) = sorted(triggers.pop_due(1.0), key=lambda d: d.province)
    assert triggers.committable(positions) == positions  # both evaluated
    triggers.restore(sd, at=5.0)  # its evaluation failed: hold its notice back again
    assert triggers.committable(positions) == {TP0: 12, TP1: 4}
    assert ba.offsets == {TP0: 10}


def test_wake_makes_provinces_due_without_a_changed_day() -> None:
    triggers = Triggers(debounce_s=1.0)
    triggers.wake(["PK-KP", "PK-PB"], at=3.0)
    assert [(d.province, d.changed_from) for d in triggers.pop_due(3.0)] == [
        ("PK-KP", None),
        ("PK-PB", None),
    ]
    triggers.notice("PK-GB", date(2024, 1, 1), TP0, 1, now=0.0)
    triggers.drop(["PK-GB"])
    assert triggers.pending() == []


def test_ownership_follows_kafkas_default_partitioner() -> None:
    from aiokafka.partitioner import murmur2

    provinces = ["PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD"]
    for p in provinces:
        assert partition_of(p, 3) == (murmur2(p.encode()) & 0x7FFFFFFF) % 3
    split = [owned(provinces, [i], 3) for i in range(3)]
    assert set().union(*split) == set(provinces)
    assert sum(len(s) for s in split) == len(provinces)  # disjoint
    assert owned(provinces, [0, 1, 2], 0) == set()


def test_day_close_spans_exactly_one_day() -> None:
    d = date(2024, 12, 31)
    assert day_close(d, KARACHI) - day_close(d - timedelta(days=1), KARACHI) == timedelta(days=1)
