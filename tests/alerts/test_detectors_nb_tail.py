"""nb_tail: hand-computed Poisson / negative-binomial tails, checked against scipy.stats."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from services.alerts.detectors import detect
from services.alerts.model import Finding, Rule, Series

START = date(2023, 1, 1)


def weeks(*totals: int) -> list[int]:
    out: list[int] = []
    for total in totals:
        out += [total, 0, 0, 0, 0, 0, 0]
    return out


def judge(values: list[int], window: int = 7, **params: Any) -> Finding:
    s = Series("PK-SD", "incidents", START, np.array(values, dtype=np.int64))
    r = Rule("n", "incidents", timedelta(days=window), "nb_tail", params)
    return detect(s, r, START + timedelta(days=len(values) - 1))


@pytest.mark.parametrize(
    ("current", "fired", "p_value"),
    [
        # 52 weeks of exactly 2: variance 0 <= mean -> Poisson(2).
        # P(X >= 6) = 1 - e^-2 (1 + 2 + 2 + 4/3 + 2/3 + 4/15) = 1 - 0.135335·7.26667 = 0.016564
        (6, False, 0.016564),
        # P(X >= 7) = 0.016564 - e^-2 · 2^6/6! = 0.016564 - 0.012030 = 0.004534 < 0.01
        (7, True, 0.004534),
    ],
)
def test_poisson_when_not_overdispersed(current: int, fired: bool, p_value: float) -> None:
    f = judge(weeks(*[2] * 52, current))
    assert f.fired is fired and f.p_value == pytest.approx(p_value, abs=2e-6)
    assert f.detail["distribution"] == "poisson" and f.expected == 2.0
    assert f.threshold == 7  # the smallest count with P(X >= k) < 0.01
    assert f.score == pytest.approx(-math.log10(p_value), rel=1e-3)


def test_negative_binomial_by_moments() -> None:
    # 26 weeks of 0 and 26 of 4: mean 2, sample variance 52·4/51 = 4.0784
    # size r = m²/(v - m) = 4/2.0784 = 1.92453; p = r/(r + m) = 0.490385
    baseline = [0, 4] * 26
    r, p = 4 / (52 * 4 / 51 - 2), (4 / (52 * 4 / 51 - 2)) / (4 / (52 * 4 / 51 - 2) + 2)
    assert (r, p) == (pytest.approx(1.92453, abs=1e-5), pytest.approx(0.490385, abs=1e-6))
    for current in (8, 9, 10, 11, 12):
        f = judge(weeks(*baseline, current))
        expected_p = float(stats.nbinom.sf(current - 1, r, p))
        assert f.p_value == pytest.approx(expected_p, rel=1e-9)
        assert f.fired is (expected_p < 0.01)
        assert f.detail["distribution"] == "negative_binomial"
    # the threshold is the first count whose tail is below alpha
    f = judge(weeks(*baseline, 0))
    k = int(f.threshold)
    assert stats.nbinom.sf(k - 1, r, p) < 0.01 <= stats.nbinom.sf(k - 2, r, p)


def test_window_scaling_to_two_weeks() -> None:
    # 14-day window, 52 weeks of exactly 2 before it -> Poisson(4) for the window
    f = judge(weeks(*[2] * 52, 5, 5), window=14)
    assert f.expected == 4.0 and f.observed == 10
    assert f.p_value == pytest.approx(float(stats.poisson.sf(9, 4.0)), rel=1e-9)
    assert f.fired  # P(X >= 10 | 4) = 0.00813


def test_empty_baseline_uses_the_floor() -> None:
    # all zeros: the mean is floored at 0.5/week -> Poisson(0.5)
    # P(X >= 3) = 1 - e^-0.5 (1 + 0.5 + 0.125) = 0.014388 -> quiet
    f = judge(weeks(*[0] * 52, 3))
    assert not f.fired and f.p_value == pytest.approx(0.014388, abs=1e-6)
    assert f.detail["mean_floored"] is True
    # P(X >= 4) = 0.014388 - e^-0.5 · 0.125/3 = 0.001752 -> fires
    f = judge(weeks(*[0] * 52, 4))
    assert f.fired and f.p_value == pytest.approx(0.001752, abs=1e-6)


def test_alpha_and_history() -> None:
    assert not judge(weeks(*[2] * 52, 7), alpha=0.001).fired
    f = judge(weeks(*[2] * 20, 9))
    assert not f.fired and f.detail["reason"] == "short history: 20 weeks before the window"
    f = judge(weeks(*[2] * 30, 9))  # 30 >= min_weeks 26: judged on what exists
    assert f.fired and f.detail["baseline_weeks"] == 30
