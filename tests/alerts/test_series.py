"""series.py: zero-filled daily series and the rolling aggregates."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from services.alerts.series import daily_series, periods, rolling_sums, weekly, window_sums

D = date(2024, 1, 1)


def test_daily_series_zero_fills_sums_duplicates_and_ignores_outside() -> None:
    rows = [
        (D, 2, 1, 3),
        (D + timedelta(days=2), 1, 0, 0),
        (D + timedelta(days=2), 1, 4, 1),  # same day twice: summed
        (D - timedelta(days=1), 9, 9, 9),  # before start: ignored
        (D + timedelta(days=5), 9, 9, 9),  # after end: ignored
    ]
    end = D + timedelta(days=4)
    assert daily_series(rows, "PK-BA", "incidents", D, end).values.tolist() == [2, 0, 2, 0, 0]
    assert daily_series(rows, "PK-BA", "killed", D, end).values.tolist() == [1, 0, 4, 0, 0]
    assert daily_series(rows, "PK-BA", "injured", D, end).values.tolist() == [3, 0, 1, 0, 0]
    # casualties = killed + injured: day 0 1+3, day 2 (0+0)+(4+1)
    s = daily_series(rows, "PK-BA", "casualties", D, end)
    assert s.values.tolist() == [4, 0, 5, 0, 0]
    assert (s.province, s.metric, s.start, s.end) == ("PK-BA", "casualties", D, end)
    assert s.values.dtype == np.int64


def test_daily_series_empty_rows_and_bad_range() -> None:
    s = daily_series([], "PK-PB", "incidents", D, D + timedelta(days=2))
    assert s.values.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="before start"):
        daily_series([], "PK-PB", "incidents", D, D - timedelta(days=1))


def test_weekly_sums_end_at_index_oldest_first() -> None:
    values = np.arange(1, 22, dtype=np.int64)  # 1..21, three weeks
    # weeks ending at index 20: [1..7]=28, [8..14]=77, [15..21]=126
    assert weekly(values, 20, 3).tolist() == [28, 77, 126]
    assert weekly(values, 20, 1).tolist() == [126]
    # ending at index 19: indexes 13..19 hold 14..20 (=119), 6..12 hold 7..13 (=70); a third
    # week would start at index -1, so it is left out
    assert weekly(values, 19, 3).tolist() == [70, 119]
    assert weekly(values, 5, 2).tolist() == []
    assert weekly(values, -1, 2).tolist() == []
    with pytest.raises(IndexError):
        weekly(values, 21, 1)


def test_rolling_and_window_sums() -> None:
    values = np.array([1, 0, 2, 5, 0, 3], dtype=np.int64)
    # 3-day sums ending at 2..5: 1+0+2, 0+2+5, 2+5+0, 5+0+3
    assert rolling_sums(values, 3).tolist() == [3, 7, 7, 8]
    assert rolling_sums(values, 7).tolist() == []
    assert window_sums(values, [2, 5], 3).tolist() == [3, 8]
    with pytest.raises(IndexError):
        window_sums(values, [1], 3)
    # 2-day blocks ending at index 5: indexes 4..5 (0+3), 2..3 (2+5), 0..1 (1+0)
    assert periods(values, 5, 3, 2).tolist() == [1, 7, 3]
