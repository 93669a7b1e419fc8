"""What a method sees: the history up to as_of and the rule's window, plus Finding helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.alerts.model import Finding, Method
from services.alerts.series import Counts


@dataclass(frozen=True)
class Context:
    """`values[-1]` is the count on `as_of`; `values[0]` the count on `as_of - (len-1) days`.

    The observed window is the `window_days` days ending at as_of (index `t`).
    """

    values: Counts
    as_of: date
    window_days: int
    method: Method

    @property
    def t(self) -> int:
        return len(self.values) - 1

    @property
    def window(self) -> str:
        return f"{self.window_days}d"

    def day(self, index: int) -> date:
        """The date of `values[index]` (index may be negative: before the history starts)."""
        return self.as_of - timedelta(days=self.t - index)

    def observed(self) -> int:
        """The window's count (partial when history is shorter than the window)."""
        return int(self.values[-self.window_days :].sum()) if len(self.values) else 0

    def quiet(self, reason: str, **fields: Any) -> Finding:
        """A non-firing finding explaining why the method could not judge (e.g. short history).

        Unknown expected/threshold are 0.0 (never NaN: findings are stored and serialised);
        `detail["reason"]` says why.
        """
        observed = fields.pop("observed", float(self.observed()))
        detail = {"reason": reason, **fields.pop("detail", {})}
        return Finding(
            fired=False,
            observed=float(observed),
            expected=float(fields.pop("expected", 0.0)),
            threshold=float(fields.pop("threshold", 0.0)),
            method=self.method,
            window=self.window,
            detail=detail,
            **fields,
        )
