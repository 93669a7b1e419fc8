"""`nb_tail` — the tail probability of the window's count under a negative binomial baseline.

Source: the negative-binomial detectors of CDC NSSP (`alert_nbinom` in the Rnssp/pynssp
packages) and the general count-surveillance practice of judging a count by its upper-tail
probability under an overdispersed baseline (e.g. Noufaily et al. 2013); here without trend or
seasonality, which this domain's sparse weekly counts cannot support.

    baseline  = the B (= `baseline_weeks`, 52) weekly counts just before the window
                (at least `min_weeks` of them; fewer and it does not judge)
    m, v      = their mean (floored at `min_weekly_mean`) and sample variance (ddof 1)
    per week  : v > m → NB with mean m and size r = m² / (v − m)   (method of moments)
                v ≤ m → Poisson(m)                                 (not overdispersed)
    window    : L = W/7 weeks of independent weeks → mean L·m, size L·r (Poisson: L·m)
    p         = P(X ≥ observed);  fires when p < alpha (default 0.01)
    threshold = the smallest count whose tail probability is below alpha
    score     = −log10(p)   (fires above −log10(alpha))

The floor on the mean keeps a single event on an empty baseline from being "impossible".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from services.alerts.detectors._dist import quantile, upper_tail
from services.alerts.detectors.context import Context
from services.alerts.detectors.params import Number, Spec
from services.alerts.model import Finding
from services.alerts.series import weekly

PARAMS: Spec = {
    "alpha": Number(0.01, low=0.0, high=0.5, open_low=True),
    "baseline_weeks": Number(52, low=4, high=520, integer=True),
    "min_weeks": Number(26, low=4, high=520, integer=True),
    "min_weekly_mean": Number(0.5, low=0.0, open_low=True),
}


def evaluate(ctx: Context, params: Mapping[str, Any]) -> Finding:
    w = ctx.window_days
    alpha = float(params["alpha"])
    baseline = weekly(ctx.values, ctx.t - w, int(params["baseline_weeks"]))
    observed = ctx.observed()
    if len(baseline) < max(int(params["min_weeks"]), 2):
        return ctx.quiet(f"short history: {len(baseline)} weeks before the window")
    raw_mean = float(baseline.mean())
    mean = max(raw_mean, float(params["min_weekly_mean"]))
    var = float(baseline.var(ddof=1))
    weeks = w / 7
    size = mean * mean / (var - mean) * weeks if var > mean else None
    mu = mean * weeks
    p = upper_tail(observed, mu, size)
    threshold = quantile(1 - alpha, mu, size) + 1
    return Finding(
        fired=bool(p < alpha and observed > 0),
        observed=float(observed),
        expected=mu,
        threshold=float(threshold),
        method="nb_tail",
        window=ctx.window,
        score=-math.log10(max(p, 1e-300)),  # finite: findings are serialised
        p_value=p,
        baseline_start=ctx.day(ctx.t - w - 7 * len(baseline) + 1),
        baseline_end=ctx.day(ctx.t - w),
        detail={
            "distribution": "poisson" if size is None else "negative_binomial",
            "weekly_mean": raw_mean,
            "weekly_variance": var,
            "size": size,
            "baseline_weeks": len(baseline),
            "mean_floored": mean > raw_mean,
        },
    )
