"""The alerts service's pure vocabulary: rules, daily series and findings.

`detect(series, rule, as_of) -> Finding` (in `services.alerts.detectors`) is the one interface
every method implements; it looks only at `series` up to and including `as_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Metric = Literal["incidents", "killed", "injured", "casualties"]
Method = Literal["ratio", "ears", "farrington", "nb_tail", "record"]
Severity = Literal["info", "warning", "critical"]
METRICS: tuple[Metric, ...] = ("incidents", "killed", "injured", "casualties")
METHODS: tuple[Method, ...] = ("ratio", "ears", "farrington", "nb_tail", "record")
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


@dataclass(frozen=True)
class Rule:
    """One line of the rules file: what to watch, how to judge it, how long before it fires."""

    name: str
    metric: Metric
    window: timedelta  # the observed window ending at as_of, e.g. 7 days
    method: Method
    params: Mapping[str, Any] = field(default_factory=dict)
    min_count: int = 0  # observed must reach this for the rule to fire at all
    severity: Severity = "warning"
    for_: timedelta = timedelta(0)  # pending this long before firing
    keep_firing_for: timedelta = timedelta(0)  # condition false this long before resolving


@dataclass(frozen=True)
class Series:
    """Daily counts of one metric in one province, oldest first, zero-filled, no gaps.

    `values[i]` is the count on `start + i days`.
    """

    province: str
    metric: Metric
    start: date
    values: npt.NDArray[np.int64]

    @property
    def end(self) -> date:
        return self.start + timedelta(days=len(self.values) - 1)

    def index(self, day: date) -> int:
        return (day - self.start).days


@dataclass(frozen=True)
class Finding:
    """The verdict of one rule on one series at one day, with everything needed to explain it."""

    fired: bool
    observed: float
    expected: float
    threshold: float
    method: Method
    window: str  # e.g. "7d"
    score: float | None = None  # observed/expected, a z-score … by method
    p_value: float | None = None
    baseline_start: date | None = None
    baseline_end: date | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)  # method-specific explanation
