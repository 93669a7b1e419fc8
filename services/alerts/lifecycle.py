"""An alert's lifecycle, with Prometheus semantics, as one pure step function.

    condition true:   (none) → pending            (→ firing at once when `for` is 0)
                      pending → firing            once it has been pending for ≥ `for`
                      firing  → firing            (last_true_at moves on)
    condition false:  pending → resolved          (it never fired: fired_at stays None)
                      firing  → resolved          once `keep_firing_for` has passed since
                                                  the condition was last true (until then
                                                  it stays firing)

A resolved alert is handed back once, with its transition; the caller then forgets it: passing
a resolved state in is the same as passing None. Acknowledgement is recorded by the caller and
never changes the state; `step` carries `acknowledged_at` along.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from services.alerts.model import Rule

State = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True)
class AlertState:
    """One alert episode of one rule in one province."""

    state: State
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_true_at: datetime
    acknowledged_at: datetime | None = None


@dataclass(frozen=True)
class Transition:
    to: State
    at: datetime


def step(
    current: AlertState | None, fired: bool, rule: Rule, at: datetime
) -> tuple[AlertState | None, list[Transition]]:
    """Advance the open alert (or None) by one evaluation of the rule's condition at `at`."""
    if current is not None and current.state == "resolved":
        current = None
    if current is None:
        if not fired:
            return None, []
        pending = AlertState("pending", at, None, None, at)
        if rule.for_.total_seconds() <= 0:
            return _fire(pending, at), [Transition("pending", at), Transition("firing", at)]
        return pending, [Transition("pending", at)]
    if fired:
        if current.state == "pending" and at - current.started_at >= rule.for_:
            return _fire(current, at), [Transition("firing", at)]
        return replace(current, last_true_at=at), []
    if current.state == "pending" or at - current.last_true_at >= rule.keep_firing_for:
        return replace(current, state="resolved", resolved_at=at), [Transition("resolved", at)]
    return current, []


def _fire(state: AlertState, at: datetime) -> AlertState:
    return replace(state, state="firing", fired_at=at, last_true_at=at)
