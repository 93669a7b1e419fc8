"""farrington (Noufaily's improved Farrington): hand-computed cases and a cross-check.

The cross-check reference is an independent re-implementation of R's
`surveillance::farringtonFlexible` steps written for this test: plain loops for the weekly
counts and R's `blocks()`, statsmodels' GLM (Poisson family, Pearson X² scale = quasi-Poisson,
var_weights = R's prior weights, t-based p-values as in summary.glm) and scipy.stats for the
quantiles. The production code uses its own numpy IRLS for speed; the two must agree to 1e-6
on the expected count and the threshold. pynssp 0.1.0 has no Farrington implementation (it
offers alert_ewma/regression/nbinom/serfling/switch), so it could not serve as the reference.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from services.alerts.detectors import detect
from services.alerts.model import Finding, Rule, Series

START = date(2020, 1, 6)


def weeks(*totals: int) -> list[int]:
    out: list[int] = []
    for total in totals:
        out += [total, 0, 0, 0, 0, 0, 0]
    return out


def judge(values: list[int], **params: Any) -> Finding:
    s = Series("PK-KP", "incidents", START, np.array(values, dtype=np.int64))
    r = Rule("f", "incidents", timedelta(days=7), "farrington", params)
    return detect(s, r, START + timedelta(days=len(values) - 1))


# Poisson(5) cdf: 0.0067 0.0404 0.1247 0.2650 0.4405 0.6160 0.7622 0.8666 0.9319 0.9682
# (k = 0…9), 0.98630 (10), 0.99455 (11): the 0.99 quantile is 11.


@pytest.mark.parametrize(("current", "fired"), [(11, False), (12, True)])
def test_constant_history_gives_a_poisson_quantile(current: int, fired: bool) -> None:
    # 3.5 years of exactly 5 a week: the GLM fits μ = 5 exactly, dispersion 0 -> φ = 1
    f = judge(weeks(*[5] * 182, current))
    assert f.expected == pytest.approx(5.0, rel=1e-9)
    assert f.threshold == 11 and f.fired is fired
    assert f.detail["dispersion"] == 1.0 and f.detail["years_used"] == 3
    assert f.p_value == pytest.approx(1 - stats.poisson.cdf(current - 1, 5), rel=1e-9)
    assert f.score == pytest.approx((current - 5) / (11 - 5))


def test_power_threshold_by_hand() -> None:
    # φ = 1, se(μ0) = 0: sd = sqrt(4/9 · 5^(1/3)) = 0.871773; z_0.99 = 2.326348
    # U = (5^(2/3) + 2.326348 · 0.871773)^(3/2) = 4.952053^1.5 = 4.952053 · 2.225321 = 11.01995
    f = judge(weeks(*[5] * 182, 11), threshold="power")
    assert f.threshold == pytest.approx(11.01995, abs=1e-4) and not f.fired
    assert judge(weeks(*[5] * 182, 12), threshold="power").fired


def test_needs_five_events_in_four_weeks() -> None:
    # an empty history: μ0 ≈ 0, so any count is above the threshold, but limit54 holds it
    f = judge(weeks(*[0] * 182, 4))
    assert not f.fired and f.detail["reason"] == "fewer than 5 events in 4 weeks"
    assert judge(weeks(*[0] * 182, 5)).fired
    assert not judge(weeks(*[0] * 182, 5), min_recent=6).fired


def test_less_than_a_year_falls_back_to_recent_weeks() -> None:
    f = judge(weeks(*[5] * 20, 12))
    assert f.detail["years_used"] == 0 and "fallback" in f.detail
    assert f.expected == pytest.approx(5.0) and f.fired
    f = judge(weeks(*[5] * 7, 12))
    assert not f.fired and "short history" in f.detail["reason"]


def test_one_or_two_years_use_what_exists() -> None:
    f = judge(weeks(*[5] * 60, 12))  # 60 weeks: one year of same-season weeks (60 - 3 >= 52)
    assert f.detail["years_used"] == 1 and "fallback" not in f.detail
    assert judge(weeks(*[5] * 120, 12)).detail["years_used"] == 2


def test_trend_kept_only_when_significant_and_not_extrapolating() -> None:
    # a steady decline (30 -> ~12 a week over 3.5 years): significant, and the prediction is
    # below the largest reference count -> kept; μ0 is below the reference mean
    declining = [round(30 - 0.1 * k) for k in range(182)]
    f = judge(weeks(*declining, 10))
    assert f.detail["trend"] is True and f.detail["trend_p_value"] < 0.05
    assert f.expected < np.mean(declining[: 182 - 26])
    # a steady rise: significant, but the prediction for now exceeds every reference week
    # (the last 26 weeks are left out) -> dropped, as R does
    rising = [round(10 + 0.1 * k) for k in range(182)]
    f = judge(weeks(*rising, 10))
    assert f.detail["trend"] is False and f.detail["trend_p_value"] < 0.05
    # trend: off never fits one
    assert judge(weeks(*declining, 10), trend="off").detail["trend_p_value"] is None


# ---- cross-check ----------------------------------------------------------------------


def reference(daily: list[int], p: dict[str, Any]) -> dict[str, Any]:
    """farringtonFlexible's steps, written out independently (see the module docstring)."""
    n_weeks = len(daily) // 7
    offset = len(daily) - 7 * n_weeks  # weeks end at the last day
    counts = [sum(daily[offset + 7 * k : offset + 7 * k + 7]) for k in range(n_weeks)]
    now = n_weeks - 1
    b, w, periods, skip = p["b"], p["w"], p["periods"], p["past_weeks_not_included"]
    years = min(b, (now - w) // 52)
    level: dict[int, int] = {}
    for j in range(1, years + 1):
        ref = now - 52 * j
        for k in range(ref - w, ref + w + 1):
            level[k] = 0
        if periods > 1:
            between = 52 - 2 * w - 1
            size, rest = divmod(between, periods - 1)
            k = ref + w + 1
            for block in range(1, periods):
                for _ in range(size + (1 if block <= rest else 0)):
                    level[k] = block
                    k += 1
    rows = sorted(k for k in level if k < now - skip)
    y = np.array([counts[k] for k in rows], dtype=float)
    blocks = sorted({level[k] for k in rows} - {0})
    base = np.array([[1.0] + [float(level[k] == lv) for lv in blocks] for k in rows])
    x_now = np.array([1.0] + [0.0] * len(blocks))

    def fit(x: np.ndarray) -> tuple[Any, float]:
        first = sm.GLM(y, x, family=sm.families.Poisson()).fit(scale="X2", use_t=True)
        phi = max(first.scale, 1.0)
        mu = first.fittedvalues
        hat = first.get_influence().hat_matrix_diag
        s = 1.5 * (y ** (2 / 3) * mu ** (-1 / 6) - mu**0.5) / np.sqrt(phi * (1 - hat))
        big = s > p["reweight_threshold"]
        raw = np.ones(len(y))
        raw[big] = s[big] ** -2.0
        omega = raw * len(y) / raw.sum()
        second = sm.GLM(y, x, family=sm.families.Poisson(), var_weights=omega)
        result = second.fit(scale="X2", use_t=True)
        return result, max(result.scale, 1.0)

    trend = False
    trend_p = None
    model, phi = fit(base)
    if years >= 3:
        week = np.array([k - rows[0] for k in rows], dtype=float)
        with_trend, phi_t = fit(np.column_stack([base, week]))
        x_t = np.concatenate([x_now, [now - rows[0]]])
        trend_p = float(with_trend.pvalues[-1])
        if trend_p < 0.05 and math.exp(x_t @ with_trend.params) <= y.max():
            model, phi, x_now, trend = with_trend, phi_t, x_t, True
    mu0 = math.exp(x_now @ model.params)
    alpha = p["alpha"]
    if p["threshold"] == "nb":
        upper = (
            stats.nbinom.ppf(1 - alpha, mu0 / (phi - 1), 1 / phi)
            if phi > 1
            else stats.poisson.ppf(1 - alpha, mu0)
        )
    else:
        se_mu = mu0 * math.sqrt(x_now @ model.cov_params() @ x_now)
        sd = math.sqrt(4 / 9 * mu0 ** (1 / 3) * (phi + se_mu**2 / mu0))
        upper = (mu0 ** (2 / 3) + stats.norm.ppf(1 - alpha) * sd) ** 1.5
    observed = counts[now]
    enough = sum(counts[now - 3 : now + 1]) >= p["min_recent"]
    return {
        "expected": mu0,
        "threshold": float(upper),
        "fired": enough and observed > upper and observed > 0,
        "trend": trend,
        "trend_p": trend_p,
        "phi": phi,
    }


DEFAULTS = {
    "b": 3, "w": 3, "periods": 10, "past_weeks_not_included": 26, "alpha": 0.01,
    "threshold": "nb", "reweight_threshold": 2.58, "min_recent": 5,
}  # fmt: skip


@pytest.mark.parametrize(
    ("weekly_rate", "trend", "overrides"),
    [
        (5.0, 0.0, {}),
        (25.0, 0.0, {}),
        (25.0, -0.15, {}),  # a decline: the trend is kept in some evaluations
        (12.0, 0.3, {"threshold": "power"}),
        (5.0, 0.0, {"periods": 1, "past_weeks_not_included": 3, "b": 2}),  # original Farrington
        (1.5, 0.0, {"alpha": 0.05}),
    ],
)
def test_agrees_with_an_independent_statsmodels_implementation(
    weekly_rate: float, trend: float, overrides: dict[str, Any]
) -> None:
    rng = np.random.default_rng(int(weekly_rate * 10) + len(overrides))
    days = 4 * 365 + 20
    rate = weekly_rate / 7 * (1 + trend * np.arange(days) / 365)
    rate[-60:] *= 2.5  # a late surge so that some evaluations alarm
    daily = [int(v) for v in rng.poisson(rate)]
    params = {**DEFAULTS, **overrides}
    s = Series("PK-KP", "incidents", START, np.array(daily, dtype=np.int64))
    r = Rule("f", "incidents", timedelta(days=7), "farrington", overrides)
    fired = trends = 0
    for end in range(len(daily) - 120, len(daily), 9):
        f = detect(s, r, START + timedelta(days=end - 1))
        ref = reference(daily[:end], params)
        assert f.expected == pytest.approx(ref["expected"], rel=1e-6)
        assert f.threshold == pytest.approx(ref["threshold"], rel=1e-6)
        assert f.detail["dispersion"] == pytest.approx(ref["phi"], rel=1e-6)
        assert (f.fired, f.detail["trend"]) == (ref["fired"], ref["trend"])
        fired += f.fired
        trends += f.detail["trend"]
    assert fired > 0
    if trend < 0:
        assert trends > 0
