"""`ears` — the CDC Early Aberration Reporting System C1, C2 and C3 statistics.

Source: Hutwagner L. et al., "The bioterrorism preparedness and response Early Aberration
Reporting System (EARS)", J Urban Health 80 (2003) i89–i96; Fricker R.D. et al., "Comparing
syndromic surveillance detection methods: EARS' versus a CUSUM-based methodology", Stat Med 27
(2008) 3407–3429 (the formulas below).

Counts. EARS was built for daily counts, but a province here sees 0–30 incidents a *week*:
daily counts are mostly 0 or 1, the 7-day baseline's sd is 0 or tiny, and a daily C1/C2 fires on
noise (a single day of 2) while it misses a doubling spread over a week. So the unit of count is
the rule's window: with W = the window in days, x_i is the W-day sum ending at day i, and the
baseline lags step by W, i.e. the baselines are the non-overlapping W-day windows just before.
W = 1 (a `1d` rule) is classic daily EARS; the shipped rules use W = 7: EARS on 7-day rolling
sums with weekly-lagged baselines (evaluated every day, so a surge is seen as it builds).

    C1(t) = (x_t − m) / s,  m, s = mean and sample sd (ddof 1) of x_{t−W}, …, x_{t−7W}
    C2(t) = same with the baseline x_{t−3W}, …, x_{t−9W} (a guard of two windows, so the first
            days of an outbreak do not inflate the baseline)
    C3(t) = Σ_{j=0..2} max(0, C2(t − jW) − 1)
    s is floored: s = max(sd, min_sigma), which guards sparse series (sd = 0 on an all-zero
    baseline would make any single event infinitely surprising).

    c1, c2 fire when x_t ≥ m + z·s, i.e. C ≥ z (z default 3, as in EARS);
    c3 fires when C3 ≥ z (z default 2, as in EARS).

Needs 8W (c1), 10W (c2) or 12W (c3) days of history; never fires on a zero count.
score = C1, C2 or C3; expected = m; threshold = the count at which today fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from services.alerts.detectors.context import Context
from services.alerts.detectors.params import Choice, Number, Spec
from services.alerts.model import Finding
from services.alerts.series import cumulative

PARAMS: Spec = {
    "variant": Choice("c2", ("c1", "c2", "c3")),
    "z": Number(None, low=0.0, open_low=True),  # None: 3 for c1/c2, 2 for c3
    "min_sigma": Number(1.0, low=0.0, open_low=True),
}
_DEFAULT_Z = {"c1": 3.0, "c2": 3.0, "c3": 2.0}
_FIRST_LAG = {"c1": 1, "c2": 3}  # baseline = 7 windows starting this many windows back
_NEEDED = {"c1": 8, "c2": 10, "c3": 12}  # windows of history needed


def evaluate(ctx: Context, params: Mapping[str, Any]) -> Finding:
    variant: str = params["variant"]
    z = float(params["z"]) if params["z"] is not None else _DEFAULT_Z[variant]
    floor = float(params["min_sigma"])
    w = ctx.window_days
    if len(ctx.values) < _NEEDED[variant] * w:
        return ctx.quiet(f"short history: {variant} needs {_NEEDED[variant] * w} days")
    c = cumulative(ctx.values)

    def sums(ends: np.ndarray) -> np.ndarray:
        return (c[ends + 1] - c[ends + 1 - w]).astype(float)

    first = _FIRST_LAG.get(variant, 3)
    # rows: the evaluated day t (and for c3 also t−W, t−2W); columns: their 7 baseline windows
    days = ctx.t - w * np.arange(3 if variant == "c3" else 1)
    lags = w * np.arange(first, first + 7)
    baseline = sums(days[:, None] - lags[None, :])
    mean = baseline.mean(axis=1)
    sigma = np.maximum(baseline.std(axis=1, ddof=1), floor)
    x = sums(days)
    stat = (x - mean) / sigma
    observed = float(x[0])
    if variant == "c3":
        excess = np.maximum(stat - 1.0, 0.0)
        score = float(excess.sum())
        needed = max(z - float(excess[1:].sum()), 0.0)  # excess today still needed to fire
        threshold = float(mean[0] + (1.0 + needed) * sigma[0])
        fired = score >= z
    else:
        score = float(stat[0])
        threshold = float(mean[0] + z * sigma[0])
        fired = observed >= threshold
    oldest = int(days[-1] - lags[-1] - w + 1)
    return Finding(
        fired=bool(fired and observed > 0),
        observed=observed,
        expected=float(mean[0]),
        threshold=threshold,
        method="ears",
        window=ctx.window,
        score=score,
        baseline_start=ctx.day(oldest),
        baseline_end=ctx.day(int(days[0] - lags[0])),
        detail={
            "variant": variant,
            "z": z,
            "sigma": float(sigma[0]),
            "sd_floored": bool(sigma[0] == floor),
            **({"c2_recent": [float(s) for s in stat]} if variant == "c3" else {}),
        },
    )
