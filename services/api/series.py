"""Counts by day, ISO week (from Monday), month or year: pure bucketing of daily values.

The range is aligned to whole buckets: `since` moves back to its bucket's first day, and every
bucket up to the one holding `until` is listed, zero-filled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

Interval = Literal["day", "week", "month", "year"]
Metric = Literal["incidents", "killed", "injured", "casualties"]
MAX_POINTS = 3700  # ten years of days

DEFAULT_SPAN: dict[str, timedelta] = {
    "day": timedelta(days=89),
    "week": timedelta(weeks=51),
    "month": timedelta(days=730),
    "year": timedelta(days=3652),
}
_AVERAGE_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}


def bucket_start(day: date, interval: Interval) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    return day


def next_bucket(start: date, interval: Interval) -> date:
    """The first day of the bucket after the one starting at `start` (OverflowError past 9999)."""
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        if start.month == 12:
            return date(start.year + 1, 1, 1)
        return start.replace(month=start.month + 1)
    return date(start.year + 1, 1, 1)


def point_count(since: date, until: date, interval: Interval) -> int:
    """About how many buckets [since, until] spans (an upper bound, for refusing huge ranges)."""
    return int((until - since).days / _AVERAGE_DAYS[interval]) + 2


def bucketed(
    values: Iterable[tuple[date, int]], since: date, until: date, interval: Interval
) -> list[tuple[date, int]]:
    """Sum daily `values` into zero-filled buckets covering [since, until]."""
    totals: dict[date, int] = {}
    for day, value in values:
        key = bucket_start(day, interval)
        totals[key] = totals.get(key, 0) + value
    out = []
    start = bucket_start(since, interval)
    while start <= until:
        out.append((start, totals.get(start, 0)))
        try:
            start = next_bucket(start, interval)
        except (OverflowError, ValueError):
            break
    return out
