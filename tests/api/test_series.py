"""Bucketing daily values by day, week, month and year (no I/O)."""

from __future__ import annotations

from datetime import date

import pytest

from services.api.series import Interval, bucket_start, bucketed, point_count


@pytest.mark.parametrize(
    ("day", "interval", "start"),
    [
        (date(2024, 3, 14), "day", date(2024, 3, 14)),
        (date(2024, 3, 14), "week", date(2024, 3, 11)),  # a Monday
        (date(2024, 3, 11), "week", date(2024, 3, 11)),
        (date(2024, 3, 14), "month", date(2024, 3, 1)),
        (date(2024, 3, 14), "year", date(2024, 1, 1)),
    ],
)
def test_bucket_start(day: date, interval: Interval, start: date) -> None:
    assert bucket_start(day, interval) == start


def test_buckets_are_zero_filled_and_summed() -> None:
    values = [(date(2024, 1, 31), 2), (date(2024, 2, 1), 3), (date(2024, 2, 29), 4)]
    assert bucketed(values, date(2024, 1, 15), date(2024, 4, 2), "month") == [
        (date(2024, 1, 1), 2),
        (date(2024, 2, 1), 7),
        (date(2024, 3, 1), 0),
        (date(2024, 4, 1), 0),
    ]
    assert bucketed(values, date(2024, 1, 30), date(2024, 2, 1), "day") == [
        (date(2024, 1, 30), 0),
        (date(2024, 1, 31), 2),
        (date(2024, 2, 1), 3),
    ]


def test_the_last_representable_year_does_not_overflow() -> None:
    assert bucketed([], date(9998, 6, 1), date.max, "year") == [
        (date(9998, 1, 1), 0),
        (date(9999, 1, 1), 0),
    ]
    assert bucketed([], date(9999, 12, 30), date.max, "day")[-1] == (date.max, 0)


def test_point_count_bounds_the_number_of_buckets() -> None:
    for interval in ("day", "week", "month", "year"):
        since, until = date(2001, 1, 1), date(2010, 12, 31)
        assert point_count(since, until, interval) >= len(bucketed([], since, until, interval))
