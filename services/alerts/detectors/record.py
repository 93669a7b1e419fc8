"""`record` — HDX Signals: a rolling total at a level not seen in the past year(s).

Source: OCHA Centre for Humanitarian Data, HDX Signals methodology (ACLED conflict indicator):
a signal is raised when the rolling 30-day total is higher than any seen in the previous 1 year
(medium) or 3 years (high), and above a minimum, so tiny numbers never signal.

With W = the rule's window (30d in the shipped rule) and Y = `years`:

    observed  = the W-day total ending at t
    prior_max = the largest W-day total ending in [t − 365·Y, t − W] (windows that end before
                the current one starts, so the surge itself is not its own reference)
    fires  ⇔  observed > prior_max  and  observed ≥ min_total
    expected  = the mean of those prior W-day totals;  threshold = max(prior_max + 1, min_total)
    score     = observed / prior_max

Needs 365·Y + W days of history: "not seen in three years" cannot be said of two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.alerts.detectors.context import Context
from services.alerts.detectors.params import Number, Spec
from services.alerts.model import Finding
from services.alerts.series import rolling_sums

PARAMS: Spec = {
    "years": Number(1, low=1, high=20, integer=True),
    "min_total": Number(10, low=0, integer=True),
}


def evaluate(ctx: Context, params: Mapping[str, Any]) -> Finding:
    w = ctx.window_days
    span = 365 * int(params["years"])
    if len(ctx.values) < span + w:
        return ctx.quiet(f"short history: needs {span + w} days")
    sums = rolling_sums(ctx.values[-(span + w) :], w)  # ends t−span … t
    prior = sums[: span - w + 1]  # ends t−span … t−W
    observed = int(sums[-1])
    best = int(prior.max())
    minimum = int(params["min_total"])
    return Finding(
        fired=bool(observed > best and observed >= minimum and observed > 0),
        observed=float(observed),
        expected=float(prior.mean()),
        threshold=float(max(best + 1, minimum)),
        method="record",
        window=ctx.window,
        score=observed / best if best > 0 else None,
        baseline_start=ctx.day(ctx.t - span - w + 1),
        baseline_end=ctx.day(ctx.t - w),
        detail={"prior_max": best, "years": int(params["years"]), "min_total": minimum},
    )
