"""`ratio` — the ACLED Subnational Surge / Threat Tracker ratio.

Source: ACLED, "Subnational Surge Tracker" and "Subnational Threat Tracker" methodology notes
(acleddata.com): the events of the last week are compared with the weekly average of the
preceding four weeks (surge) or of the preceding year (threat); a unit is flagged when the
count reaches twice its baseline average and the baseline is not trivially small.

Formula, with W = the rule's window in days and B = `baseline_weeks`:

    observed  = Σ x[t-W+1 … t]
    m         = mean of the B weekly (7-day) sums immediately before the window
    expected  = m · W/7
    fires  ⇔  m ≥ min_baseline_per_week  and  observed ≥ factor · expected  (and observed > 0)
    score     = observed / expected

Needs B full weeks of history before the window, otherwise it does not judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.alerts.detectors.context import Context
from services.alerts.detectors.params import Number, Spec
from services.alerts.model import Finding
from services.alerts.series import weekly

PARAMS: Spec = {
    "baseline_weeks": Number(4, low=1, high=520, integer=True),
    "factor": Number(2.0, low=1.0, open_low=True),
    "min_baseline_per_week": Number(1.0, low=0.0),
}


def evaluate(ctx: Context, params: Mapping[str, Any]) -> Finding:
    weeks = int(params["baseline_weeks"])
    w = ctx.window_days
    baseline = weekly(ctx.values, ctx.t - w, weeks)
    observed = ctx.observed()
    if len(baseline) < weeks:
        return ctx.quiet(
            f"short history: {len(baseline)} of {weeks} baseline weeks before the window"
        )
    mean = float(baseline.mean())
    expected = mean * w / 7
    threshold = float(params["factor"]) * expected
    eligible = mean >= float(params["min_baseline_per_week"])
    return Finding(
        fired=bool(eligible and observed > 0 and observed >= threshold),
        observed=float(observed),
        expected=expected,
        threshold=threshold,
        method="ratio",
        window=ctx.window,
        score=observed / expected if expected > 0 else None,
        baseline_start=ctx.day(ctx.t - w - 7 * weeks + 1),
        baseline_end=ctx.day(ctx.t - w),
        detail={
            "baseline_weekly_mean": mean,
            "baseline_weeks": weeks,
            **({} if eligible else {"reason": "baseline below min_baseline_per_week"}),
        },
    )
