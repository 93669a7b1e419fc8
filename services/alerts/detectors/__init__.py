"""`detect(series, rule, as_of) -> Finding`: the one entry point of the five detection methods.

Each method lives in its own module (formula and source in its docstring) and exposes
`PARAMS` (its typed parameters, see `params.py`) and `evaluate(ctx, params) -> Finding`;
`METHODS` maps a rule's `method` to it. The rules loader validates against the same table.

Invariants of `detect`, whatever the method:
- it reads `series` only up to and including `as_of` (days after `series.end` count as zero:
  the series is zero-filled up to the last day its caller knows of);
- the observed window is the `rule.window` days ending at `as_of`;
- it never raises for short or empty history: it returns `fired=False` with `detail["reason"]`;
- `fired` requires `observed >= rule.min_count` (otherwise `detail["suppressed"]` says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from types import ModuleType
from typing import Any

import numpy as np

from services.alerts.detectors import ears, farrington, nb_tail, ratio, record
from services.alerts.detectors.context import Context
from services.alerts.detectors.params import Spec, resolve
from services.alerts.model import Finding, Method, Rule, Series


@dataclass(frozen=True)
class MethodSpec:
    """A method's parameters, its evaluation, and the windows it accepts (None = any)."""

    params: Spec
    evaluate: Callable[[Context, Mapping[str, Any]], Finding]
    window_days: tuple[int, ...] | None = None


def _spec(module: ModuleType) -> MethodSpec:
    return MethodSpec(module.PARAMS, module.evaluate, getattr(module, "WINDOW_DAYS", None))


METHODS: Mapping[Method, MethodSpec] = {
    "ratio": _spec(ratio),
    "ears": _spec(ears),
    "farrington": _spec(farrington),
    "nb_tail": _spec(nb_tail),
    "record": _spec(record),
}


def history(series: Series, as_of: date) -> np.ndarray:
    """The series values from its start up to and including `as_of` (zero-padded past its end)."""
    n = series.index(as_of) + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    values = series.values[:n]
    if n > len(values):
        values = np.concatenate([values, np.zeros(n - len(values), dtype=np.int64)])
    return values.astype(np.int64, copy=False)


def detect(series: Series, rule: Rule, as_of: date) -> Finding:
    """Judge `series` at `as_of` under `rule` (see the module docstring for the invariants).

    Raises ValueError only for a rule the rules loader would have refused (unknown method or
    parameter, a window the method does not accept).
    """
    spec = METHODS.get(rule.method)
    if spec is None:
        raise ValueError(f"unknown method {rule.method!r}")
    days = rule.window.days
    if days < 1 or rule.window.seconds or (spec.window_days and days not in spec.window_days):
        raise ValueError(f"method {rule.method} cannot use a window of {rule.window}")
    ctx = Context(history(series, as_of), as_of, days, rule.method)
    if len(ctx.values) == 0:
        return ctx.quiet("no history up to as_of", observed=0.0)
    finding = spec.evaluate(ctx, resolve(spec.params, rule.params))
    if finding.fired and finding.observed < rule.min_count:
        suppressed = f"observed {finding.observed:g} < min_count {rule.min_count}"
        return replace(finding, fired=False, detail={**finding.detail, "suppressed": suppressed})
    return finding
