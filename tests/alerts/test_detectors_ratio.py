"""ratio (ACLED surge/threat tracker): table tests with hand-computed numbers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from services.alerts.detectors import detect
from services.alerts.model import Rule, Series

START = date(2024, 1, 1)


def series(values: list[int]) -> Series:
    return Series("PK-BA", "incidents", START, np.array(values, dtype=np.int64))


def rule(min_count: int = 0, window: int = 7, **params: Any) -> Rule:
    return Rule("r", "incidents", timedelta(days=window), "ratio", params, min_count=min_count)


def weeks(*totals: int) -> list[int]:
    """Daily values whose 7-day blocks sum to `totals` (all of a week's count on its first day)."""
    out: list[int] = []
    for total in totals:
        out += [total, 0, 0, 0, 0, 0, 0]
    return out


def at_end(values: list[int]) -> date:
    return START + timedelta(days=len(values) - 1)


@pytest.mark.parametrize(
    ("totals", "params", "fired", "expected", "score"),
    [
        # baseline weeks 2,2,2,2 -> mean 2, expected 2; observed 4 = 2.0x -> fires at factor 2
        ((2, 2, 2, 2, 4), {}, True, 2.0, 2.0),
        # observed 3 = 1.5x -> quiet
        ((2, 2, 2, 2, 3), {}, False, 2.0, 1.5),
        # baseline 1,0,1,1 -> mean 0.75 < 1/week: never fires, even at 8/0.75 = 10.7x
        ((1, 0, 1, 1, 8), {}, False, 0.75, 8 / 0.75),
        # ... unless the floor is lowered
        ((1, 0, 1, 1, 8), {"min_baseline_per_week": 0.5}, True, 0.75, 8 / 0.75),
        # factor 3: 5 / mean(1,2,3,2)=2 -> 2.5x, quiet
        ((1, 2, 3, 2, 5), {"factor": 3.0}, False, 2.0, 2.5),
        # threat variant: 2 baseline weeks (3, 5) -> mean 4; observed 8 -> 2.0x, fires
        ((9, 9, 3, 5, 8), {"baseline_weeks": 2}, True, 4.0, 2.0),
    ],
)
def test_ratio_table(
    totals: tuple[int, ...], params: dict[str, Any], fired: bool, expected: float, score: float
) -> None:
    values = weeks(*totals)
    f = detect(series(values), rule(**params), at_end(values))
    assert (f.fired, f.expected, f.observed) == (fired, expected, totals[-1])
    assert f.score == pytest.approx(score)
    assert f.threshold == pytest.approx(params.get("factor", 2.0) * expected)
    assert f.method == "ratio" and f.window == "7d"


def test_ratio_baseline_span_and_window_scaling() -> None:
    values = weeks(2, 2, 2, 2, 4)
    f = detect(series(values), rule(), at_end(values))
    # window = days 28..34, baseline = days 0..27
    assert (f.baseline_start, f.baseline_end) == (START, START + timedelta(days=27))
    # a 14-day window: observed = weeks 4 and 5 = 2 + 4; baseline = the 4 weeks before (days
    # 0..27 shifted back a week: only 3 full weeks exist) -> short history
    f = detect(series(values), rule(window=14), at_end(values))
    assert not f.fired and "short history" in f.detail["reason"]
    values = weeks(2, 2, 2, 2, 4, 4)
    f = detect(series(values), rule(window=14), at_end(values))
    # baseline weeks 2,2,2,2 -> 2/week, expected over 14 days = 4; observed 8 -> 2.0x
    assert (f.fired, f.expected, f.observed, f.threshold) == (True, 4.0, 8.0, 8.0)


def test_ratio_min_count_suppresses() -> None:
    values = weeks(1, 1, 1, 1, 2)  # 2.0x on a 1/week baseline
    assert detect(series(values), rule(), at_end(values)).fired
    f = detect(series(values), rule(min_count=3), at_end(values))
    assert not f.fired and f.detail["suppressed"] == "observed 2 < min_count 3"


def test_ratio_reads_nothing_after_as_of() -> None:
    values = weeks(2, 2, 2, 2, 4) + [50] * 10
    f = detect(series(values), rule(), START + timedelta(days=34))
    assert (f.fired, f.observed) == (True, 4.0)


def test_ratio_short_and_empty_history() -> None:
    # an empty series is zero-filled up to as_of: one zero day, far too short
    f = detect(series([]), rule(), START)
    assert not f.fired and "short history: 0 of 4" in f.detail["reason"]
    f = detect(series([5] * 10), rule(), START - timedelta(days=1))
    assert not f.fired and f.detail["reason"] == "no history up to as_of"
    f = detect(series([5] * 20), rule(), START + timedelta(days=19))
    assert not f.fired and "short history" in f.detail["reason"]
