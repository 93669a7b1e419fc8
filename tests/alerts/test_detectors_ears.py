"""ears (CDC EARS C1/C2/C3): hand-computed tables and a cross-check against a re-implementation.

pynssp (the CDC NSSP Python package, 0.1.0) was installed and inspected for the cross-check: it
ships alert_ewma, alert_regression, alert_nbinom, alert_serfling and alert_switch, but no EARS
(nor Farrington), so the reference here is an independent, deliberately naive re-implementation
straight from the published formulas (Fricker et al. 2008): Python loops and the `statistics`
module, no numpy, no shared helpers.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from services.alerts.detectors import detect
from services.alerts.model import Rule, Series

START = date(2024, 1, 1)


def series(values: list[int]) -> Series:
    return Series("PK-KP", "incidents", START, np.array(values, dtype=np.int64))


def rule(window: int = 1, **params: Any) -> Rule:
    return Rule("e", "incidents", timedelta(days=window), "ears", params)


def last(values: list[int]) -> date:
    return START + timedelta(days=len(values) - 1)


BASE = [1, 2, 1, 2, 1, 2, 1]
# mean(BASE) = 10/7 = 1.428571; deviations -3/7 (four times) and 4/7 (three times):
# SS = 4·9/49 + 3·16/49 = 84/49 = 12/7; sample var = (12/7)/6 = 2/7; sd = 0.534522


@pytest.mark.parametrize(
    ("values", "params", "fired", "threshold", "score"),
    [
        # C1, daily: baseline BASE, sd 0.5345 floored to min_sigma 1 -> bound 10/7 + 3 = 4.4286
        ([*BASE, 5], {"variant": "c1"}, True, 10 / 7 + 3, 5 - 10 / 7),
        ([*BASE, 4], {"variant": "c1"}, False, 10 / 7 + 3, 4 - 10 / 7),
        # ... with a small floor the sd counts: bound = 10/7 + 3·0.534522 = 3.03214
        ([*BASE, 4], {"variant": "c1", "min_sigma": 0.1}, True, 10 / 7 + 3 * 0.534522, 4.8107),
        # C2: two guard days (9, 9) are skipped; baseline t-9..t-3 = BASE again
        ([*BASE, 9, 9, 5], {"variant": "c2"}, True, 10 / 7 + 3, 5 - 10 / 7),
        # the same series under C1: baseline (1,2,1,2,1,9,9), mean 25/7 = 3.5714; deviations
        # -18/7 (x3), -11/7 (x2), 38/7 (x2): SS = (3·324 + 2·121 + 2·1444)/49 = 83.714,
        # var 13.952, sd 3.7353 -> bound 3.5714 + 3·3.7353 = 14.777, score 1.4286/3.7353
        ([*BASE, 9, 9, 5], {"variant": "c1"}, False, 25 / 7 + 3 * 3.735268, 0.38246),
        # z = 2 lowers the C2 bound to 10/7 + 2 = 3.43: 4 fires
        ([*BASE, 9, 9, 4], {"variant": "c2", "z": 2.0}, True, 10 / 7 + 2, 4 - 10 / 7),
    ],
)
def test_daily_c1_c2(
    values: list[int], params: dict[str, Any], fired: bool, threshold: float, score: float
) -> None:
    f = detect(series(values), rule(**params), last(values))
    assert f.fired is fired
    assert f.threshold == pytest.approx(threshold, abs=1e-4)
    assert f.score == pytest.approx(score, abs=1e-3)
    assert f.observed == values[-1]


@pytest.mark.parametrize(
    ("tail", "fired", "score"),
    [
        # nine days of 1 then x9, x10, x11; every C2 baseline is seven 1s: mean 1, sd 0 -> 1,
        # so C2(d) = x_d - 1 and C3 = Σ max(0, x_d - 2)
        ((3, 3, 3), True, 3.0),  # 1 + 1 + 1 = 3 >= 2
        ((2, 2, 3), False, 1.0),  # 0 + 0 + 1
        ((1, 1, 4), True, 2.0),  # 0 + 0 + 2 = 2 >= 2
        ((4, 1, 1), True, 2.0),  # an excess two days ago still counts, but today's count is 1
    ],
)
def test_daily_c3(tail: tuple[int, int, int], fired: bool, score: float) -> None:
    values = [1] * 9 + list(tail)
    f = detect(series(values), rule(variant="c3"), last(values))
    assert (f.fired, f.score) == (fired, score)


def test_c3_threshold_is_the_count_that_would_fire_today() -> None:
    values = [1] * 9 + [3, 1, 0]  # earlier excess 1 of the 2 needed -> today needs C2 >= 2
    f = detect(series(values), rule(variant="c3"), last(values))
    assert f.threshold == pytest.approx(1 + 2 * 1)  # mean + (1 + 1)·sigma
    assert not f.fired  # C3 = 1 + 0 + 0


def weeks(*totals: int) -> list[int]:
    out: list[int] = []
    for total in totals:
        out += [total, 0, 0, 0, 0, 0, 0]
    return out


def test_weekly_sums_with_weekly_lags() -> None:
    # 7-day window: x = weekly sums, baseline = the 7 weeks before (C1): 2,4,2,4,2,4,2
    # mean 20/7 = 2.857; SS = 4·(6/7)² + 3·(8/7)² = 6.857; var 1.1429; sd 1.0690
    # bound = 2.857 + 3·1.0690 = 6.064
    values = weeks(2, 4, 2, 4, 2, 4, 2, 12)
    f = detect(series(values), rule(window=7, variant="c1"), last(values))
    assert f.fired and f.threshold == pytest.approx(20 / 7 + 3 * 1.069045, abs=1e-4)
    assert (f.observed, f.expected) == (12, pytest.approx(20 / 7))
    assert (f.baseline_start, f.baseline_end) == (START, START + timedelta(days=48))
    values = weeks(2, 4, 2, 4, 2, 4, 2, 6)
    assert not detect(series(values), rule(window=7, variant="c1"), last(values)).fired


def test_short_history_and_zero_counts() -> None:
    f = detect(series([1] * 9), rule(variant="c2"), START + timedelta(days=8))
    assert not f.fired and f.detail["reason"] == "short history: c2 needs 10 days"
    # C3 can exceed its bound on past days only; a zero today never alarms
    values = [0] * 9 + [5, 5, 0]
    f = detect(series(values), rule(variant="c3"), last(values))
    assert not f.fired and f.score is not None and f.score >= 2


# ---- cross-check against a naive re-implementation -------------------------------------


def reference(values: list[int], t: int, w: int, variant: str, z: float, floor: float) -> dict:
    """EARS from the formulas, with loops: x_i = the w-day sum ending at day i."""

    def x(i: int) -> int:
        return sum(values[i - w + 1 : i + 1])

    def c(i: int, first_lag: int) -> tuple[float, float, float]:
        base = [x(i - w * k) for k in range(first_lag, first_lag + 7)]
        mean = statistics.mean(base)
        sigma = max(statistics.stdev(base), floor)
        return (x(i) - mean) / sigma, mean, sigma

    if variant == "c1":
        stat, mean, sigma = c(t, 1)
        return {"score": stat, "fired": x(t) >= mean + z * sigma and x(t) > 0}
    if variant == "c2":
        stat, mean, sigma = c(t, 3)
        return {"score": stat, "fired": x(t) >= mean + z * sigma and x(t) > 0}
    c3 = sum(max(0.0, c(t - w * j, 3)[0] - 1) for j in range(3))
    return {"score": c3, "fired": c3 >= z and x(t) > 0}


@pytest.mark.parametrize("variant", ["c1", "c2", "c3"])
@pytest.mark.parametrize(("window", "weekly_rate"), [(1, 5.0), (7, 1.0), (7, 25.0), (14, 5.0)])
def test_agrees_with_the_naive_reimplementation(
    variant: str, window: int, weekly_rate: float
) -> None:
    rng = np.random.default_rng(7)
    values = rng.poisson(weekly_rate / 7, 300)
    values[200:230] = rng.poisson(3 * weekly_rate / 7, 30)  # a surge, so some days alarm
    plain = [int(v) for v in values]
    z = {"c1": 3.0, "c2": 3.0, "c3": 2.0}[variant]
    s = series(plain)
    alarms = 0
    for t in range(12 * window + 5, 300, 3):
        f = detect(s, rule(window=window, variant=variant), START + timedelta(days=t))
        ref = reference(plain, t, window, variant, z, 1.0)
        assert f.score == pytest.approx(ref["score"], rel=1e-9, abs=1e-9)
        assert f.fired is ref["fired"]
        alarms += f.fired
    assert alarms > 0  # the comparison covered alarms, not only quiet days
