"""Daily series and the rolling aggregates every detector is built from (pure numpy, no day loops).

Conventions shared by every function here:
- a series is a 1-D int64 array of daily counts, oldest first, zero-filled;
- a "window ending at i" of k days covers indexes i-k+1 … i inclusive;
- weeks are 7-day blocks counted back from an end index (not calendar weeks), so "the week
  ending at as_of" always holds the latest 7 days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import numpy.typing as npt

from services.alerts.model import Metric, Series

Counts = npt.NDArray[np.int64]
_COLUMNS: dict[Metric, tuple[int, ...]] = {
    "incidents": (1,),
    "killed": (2,),
    "injured": (3,),
    "casualties": (2, 3),
}


def daily_series(
    rows: Iterable[tuple[date, int, int, int]],
    province: str,
    metric: Metric,
    start: date,
    end: date,
) -> Series:
    """The zero-filled daily series of `metric` for `start` … `end` inclusive.

    `rows` are `(day, incidents, killed, injured)`, already summed per day for the province;
    rows outside the range are ignored, and a day listed twice is summed. 'casualties' is
    killed + injured.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    length = (end - start).days + 1
    table = np.array([(d.toordinal(), i, k, j) for d, i, k, j in rows], dtype=np.int64)
    values = np.zeros(length, dtype=np.int64)
    if table.size:
        offsets = table[:, 0] - start.toordinal()
        inside = (offsets >= 0) & (offsets < length)
        counts = table[inside][:, list(_COLUMNS[metric])].sum(axis=1)
        np.add.at(values, offsets[inside], counts)
    return Series(province=province, metric=metric, start=start, values=values)


def cumulative(values: npt.NDArray[np.integer]) -> Counts:
    """Prefix sums with a leading zero: `c[j] - c[i]` is the sum of `values[i:j]`."""
    out = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=out[1:])
    return out


def window_sums(values: npt.NDArray[np.integer], ends: npt.ArrayLike, days: int) -> Counts:
    """Sums of the `days`-day windows ending at each index of `ends` (must be >= days - 1)."""
    c = cumulative(values)
    e = np.asarray(ends, dtype=np.int64)
    if e.size and (e.min() < days - 1 or e.max() >= len(values)):
        raise IndexError("window reaches outside the series")
    return c[e + 1] - c[e + 1 - days]


def rolling_sums(values: npt.NDArray[np.integer], days: int) -> Counts:
    """`out[i]` = the sum of the `days` days ending at i, for i = days-1 … n-1 (length n-days+1)."""
    c = cumulative(values)
    return c[days:] - c[:-days] if len(values) >= days else np.zeros(0, dtype=np.int64)


def weekly(values: npt.NDArray[np.integer], end_index: int, weeks: int) -> Counts:
    """7-day sums of the `weeks` weeks ending at `end_index` (inclusive), oldest first.

    Weeks that would start before the series are left out, so the result is shorter than
    `weeks` when history is short (possibly empty); it never invents zeros.
    """
    return periods(values, end_index, weeks, 7)


def periods(values: npt.NDArray[np.integer], end_index: int, count: int, days: int) -> Counts:
    """Sums of `count` consecutive `days`-day blocks ending at `end_index`, oldest first.

    Blocks that would start before the series (or a negative `end_index`) are left out.
    """
    if end_index >= len(values):
        raise IndexError(f"end_index {end_index} is past the series (length {len(values)})")
    available = (end_index + 1) // days if end_index >= 0 else 0
    n = max(0, min(count, available))
    ends = end_index - days * np.arange(n - 1, -1, -1, dtype=np.int64)
    return window_sums(values, ends, days)
