"""`farrington` — the improved Farrington method (Farrington flexible) on weekly counts.

Sources: Farrington C.P. et al., "A statistical algorithm for the early detection of outbreaks
of infectious disease", JRSS A 159 (1996) 547–563; Noufaily A. et al., "An improved algorithm
for outbreak detection in multiple surveillance systems", Stat Med 32 (2013) 1206–1222; the R
implementation `surveillance::farringtonFlexible` (Salmon, Schumacher, Höhle 2016), whose
steps this module follows one for one.

Weeks are the 7-day blocks ending at as_of (the current week is the rule's 7-day window).

1. Reference data. With b = `b` years (default 3; fewer when history is short) and w = `w`
   (default 3): the weeks t−52j−w … t−52j+w for j = 1…b form the "window" level of a seasonal
   factor; with `periods` p > 1 (Noufaily: 10) every other week of those b years is used too,
   the 45 weeks between two windows split into p−1 consecutive blocks, one factor level each.
   The `past_weeks_not_included` most recent weeks (Noufaily: 26) are left out, so an emerging
   outbreak does not teach the model. With less than one year (+w weeks) of history there are
   no same-season weeks: it falls back to all full past weeks (at least 8), intercept only, and
   says so in `detail["fallback"]`.
2. Model: quasi-Poisson GLM, log μ = α + β·week + γ_level. The trend β is kept only if
   significant (t-test p < 0.05), at least 3 years are used, and the prediction for the
   current week does not exceed the largest reference count (no extrapolation); else the model
   is refitted without it.
3. Reweighting (Farrington): standardised Anscombe residuals
   s_i = 3/2 (y_i^{2/3} μ_i^{−1/6} − μ_i^{1/2}) / √(φ (1 − h_ii)); weeks with s_i > 2.58
   (Noufaily; Farrington used 1) get weight γ s_i^{−2}, the others γ (γ makes the weights sum
   to n), and the model is refitted. φ = max(1, Pearson dispersion).
4. Threshold U for the current week at level alpha (default 0.01, one-sided):
   `threshold: nb` (Noufaily's "nbPlugin", default): the 1−alpha quantile of a negative
   binomial with mean μ0 and variance φ μ0 (Poisson when φ = 1);
   `threshold: power` (Farrington's 2/3-power transform): U = (μ0^{2/3} + z_{1−α} ·
   √(4/9 μ0^{1/3} (φ + se(μ0)²/μ0)))^{3/2}.
5. Alarm when y0 > U and the last 4 weeks (current included) hold at least 5 events (R's
   `limit54 = c(5, 4)`). score = (y0 − μ0)/(U − μ0) (alarm ⇔ score > 1);
   p_value = P(Y ≥ y0) under the threshold's distribution.

Defaults as Noufaily et al. recommend and as R's farringtonFlexible implements them, except
b = 3 (R: 5) because a province's history here is often a handful of years, and alpha = 0.01
(R: 0.05) to keep false alarms near one a province-year.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import special

from services.alerts.detectors._dist import quantile, upper_tail
from services.alerts.detectors._glm import Array, Fit, fit_quasipoisson
from services.alerts.detectors.context import Context
from services.alerts.detectors.params import Choice, Number, Spec
from services.alerts.model import Finding
from services.alerts.series import weekly

PARAMS: Spec = {
    "b": Number(3, low=1, high=10, integer=True),
    "w": Number(3, low=0, high=10, integer=True),
    "periods": Number(10, low=1, high=20, integer=True),
    "past_weeks_not_included": Number(26, low=0, high=52, integer=True),
    "alpha": Number(0.01, low=0.0, high=0.5, open_low=True),
    "threshold": Choice("nb", ("nb", "power")),
    "reweight_threshold": Number(2.58, low=0.0, open_low=True),
    "trend": Choice("auto", ("auto", "off")),
    "min_recent": Number(5, low=0, integer=True),  # limit54: events in the last 4 weeks
}
WINDOW_DAYS = (7,)
YEAR = 52
MIN_FALLBACK_WEEKS = 8


def evaluate(ctx: Context, params: Mapping[str, Any]) -> Finding:
    counts = weekly(ctx.values, ctx.t, (ctx.t + 1) // 7).astype(float)
    now = len(counts) - 1
    observed = ctx.observed()
    if now < MIN_FALLBACK_WEEKS:
        return ctx.quiet(f"short history: {now} full weeks before the current one")
    w, b_max = int(params["w"]), int(params["b"])
    years = min(b_max, (now - w) // YEAR)
    if years >= 1:
        level = _levels(now, years, w, int(params["periods"]))
        level[max(now - int(params["past_weeks_not_included"]), 0) :] = -1
    else:
        level = np.full(now + 1, 0)
        level[now] = -1
    rows = np.flatnonzero(level >= 0)
    y = counts[rows]
    week = (rows - rows[0]).astype(float)
    dummies = np.unique(level[rows])
    dummies = dummies[dummies > 0]  # level 0 is the reference ("window") level
    base = np.column_stack([np.ones(len(rows))] + [level[rows] == d for d in dummies])
    here = np.concatenate([[1.0], np.zeros(len(dummies))])
    with_trend = years >= 3 and params["trend"] == "auto"
    model = _fit(base, y, float(params["reweight_threshold"]), week if with_trend else None)
    trend_p: float | None = None
    if model is not None and with_trend:
        x0 = np.concatenate([here, [now - rows[0]]])
        fit = model[0]
        se = math.sqrt(fit.dispersion * fit.cov_unscaled[-1, -1])
        trend_p = float(2 * special.stdtr(fit.df_resid, -abs(fit.beta[-1]) / se)) if se else 1.0
        keep = trend_p < 0.05 and math.exp(float(x0 @ fit.beta)) <= y.max()
        if keep:
            here = x0
        else:
            with_trend = False
            model = _fit(base, y, float(params["reweight_threshold"]), None)
    if model is None or not math.isfinite(model[1]):
        return ctx.quiet("the GLM did not converge")
    fit, phi = model
    eta0 = float(here @ fit.beta)
    mu0 = math.exp(eta0)
    alpha = float(params["alpha"])
    if params["threshold"] == "nb":
        size = mu0 / (phi - 1) if phi > 1 else None
        upper = float(quantile(1 - alpha, mu0, size))
        p_value = upper_tail(observed, mu0, size)
    else:
        se_mu = mu0 * math.sqrt(max(fit.dispersion, 0.0) * float(here @ fit.cov_unscaled @ here))
        sd = math.sqrt(4 / 9 * mu0 ** (1 / 3) * (phi + se_mu**2 / mu0))
        z = float(special.ndtri(1 - alpha))
        upper = (mu0 ** (2 / 3) + z * sd) ** 1.5
        p_value = float(special.ndtr(-(observed ** (2 / 3) - mu0 ** (2 / 3)) / sd))
    recent = int(counts[-4:].sum())
    enough = recent >= int(params["min_recent"])
    first = int(rows[0])
    return Finding(
        fired=bool(enough and observed > upper and observed > 0),
        observed=float(observed),
        expected=mu0,
        threshold=upper,
        method="farrington",
        window=ctx.window,
        score=(observed - mu0) / (upper - mu0) if upper > mu0 else None,
        p_value=p_value,
        baseline_start=ctx.day(ctx.t - 7 * (now - first) - 6),
        baseline_end=ctx.day(ctx.t - 7 * (now - int(rows[-1]))),
        detail={
            "years_used": years,
            **({"fallback": "recent weeks: less than a year of history"} if years < 1 else {}),
            "reference_weeks": len(rows),
            "dispersion": phi,
            "trend": with_trend,
            "trend_p_value": trend_p,
            "recent_4_weeks": recent,
            **(
                {} if enough else {"reason": f"fewer than {params['min_recent']} events in 4 weeks"}
            ),
        },
    )


def _levels(now: int, years: int, w: int, periods: int) -> np.ndarray:
    """R's `blocks()`: level 0 on the ±w windows, 1…p−1 on the blocks between, −1 elsewhere."""
    level = np.full(now + 1, -1)
    between = YEAR - 2 * w - 1
    sizes = np.full(periods - 1, between // max(periods - 1, 1))
    sizes[: between % max(periods - 1, 1)] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for j in range(1, years + 1):
        ref = now - YEAR * j
        level[ref - w : ref + w + 1] = 0
        if periods > 1:
            for k in range(periods - 1):
                level[ref + w + 1 + bounds[k] : ref + w + 1 + bounds[k + 1]] = k + 1
    return level


def _fit(
    base: Array, y: Array, reweight_threshold: float, week: Array | None
) -> tuple[Fit, float] | None:
    """R's algo.farrington.fitGLM.flexible: fit, reweight by Anscombe residuals, refit."""
    x = base if week is None else np.column_stack([base, week])
    fit = fit_quasipoisson(x, y)
    if not fit.converged:
        return None
    phi = max(fit.dispersion, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 1.5 * (y ** (2 / 3) * fit.mu ** (-1 / 6) - fit.mu**0.5)
        s = s / np.sqrt(phi * np.clip(1 - fit.hat, 1e-12, None))
    outlier = s > reweight_threshold
    raw = np.ones(len(y))
    raw[outlier] = s[outlier] ** -2.0
    fit = fit_quasipoisson(x, y, raw * len(y) / raw.sum(), start=fit.mu)
    if not fit.converged:
        return None
    return fit, max(fit.dispersion, 1.0)
