"""record (HDX Signals): the rolling 30-day total against the past year's (or years') best."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from services.alerts.detectors import detect
from services.alerts.model import Finding, Rule, Series

START = date(2022, 1, 1)


def judge(values: np.ndarray, window: int = 30, **params: Any) -> Finding:
    s = Series("PK-BA", "incidents", START, values.astype(np.int64))
    r = Rule("rec", "incidents", timedelta(days=window), "record", params)
    return detect(s, r, START + timedelta(days=len(values) - 1))


def history(days: int = 400, past_peak: int = 12, current: int = 0) -> np.ndarray:
    """Zeros, a past 30-day peak of `past_peak` events 200 days back, `current` events today."""
    v = np.zeros(days, dtype=np.int64)
    v[-200] = past_peak
    v[-1] = current
    return v


@pytest.mark.parametrize(
    ("past_peak", "current", "params", "fired"),
    [
        (12, 13, {}, True),  # 13 > 12 and >= min_total 10
        (12, 12, {}, False),  # equal to the record is not a new record
        (3, 9, {}, False),  # a record, but below min_total 10
        (3, 9, {"min_total": 5}, True),
        (0, 0, {"min_total": 0}, False),  # never on a zero total
    ],
)
def test_record_table(past_peak: int, current: int, params: dict[str, Any], fired: bool) -> None:
    f = judge(history(past_peak=past_peak, current=current), **params)
    assert f.fired is fired
    assert f.observed == current and f.detail["prior_max"] == past_peak
    assert f.threshold == max(past_peak + 1, params.get("min_total", 10))


def test_the_reference_excludes_overlapping_windows_and_older_years() -> None:
    v = np.zeros(400, dtype=np.int64)
    v[-20] = 11  # inside the current 30-day window: part of the observed total, not the record
    v[-1] = 1
    f = judge(v)
    assert f.fired and f.observed == 12 and f.detail["prior_max"] == 0
    v = np.zeros(800, dtype=np.int64)
    v[-500] = 50  # more than a year back: forgotten by years=1, remembered by years=2
    v[-1] = 20
    assert judge(v).fired
    f = judge(v, years=2)
    assert not f.fired and f.detail["prior_max"] == 50


def test_baseline_span_and_short_history() -> None:
    f = judge(history())
    # prior windows end at t-365 … t-30; the oldest starts 29 days earlier
    t = START + timedelta(days=399)
    assert (f.baseline_start, f.baseline_end) == (t - timedelta(days=394), t - timedelta(days=30))
    f = judge(np.zeros(394, dtype=np.int64))
    assert not f.fired and f.detail["reason"] == "short history: needs 395 days"
    f = judge(history(days=800), years=3)
    assert not f.fired and f.detail["reason"] == "short history: needs 1125 days"
