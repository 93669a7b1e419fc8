"""step(): the Prometheus-style lifecycle, as tables of (condition, time) sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.lifecycle import AlertState, Transition, step
from services.alerts.model import Rule

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def rule(for_days: int, keep_days: int) -> Rule:
    return Rule(
        name="r",
        metric="incidents",
        window=timedelta(days=7),
        method="ratio",
        for_=timedelta(days=for_days),
        keep_firing_for=timedelta(days=keep_days),
    )


def run(r: Rule, conditions: list[bool]) -> list[tuple[str | None, list[str]]]:
    """Evaluate once a day from T0; per day: the state after the step and the transitions."""
    state: AlertState | None = None
    out: list[tuple[str | None, list[str]]] = []
    for day, fired in enumerate(conditions):
        state, moves = step(state, fired, r, T0 + timedelta(days=day))
        out.append((state.state if state else None, [m.to for m in moves]))
    return out


P, F, R, N = "pending", "firing", "resolved", None


@pytest.mark.parametrize(
    ("for_days", "keep_days", "conditions", "expected"),
    [
        # nothing happens while the condition is false
        (2, 7, [False, False], [(N, []), (N, [])]),
        # for = 0: pending and firing in the same step
        (0, 0, [True], [(F, [P, F])]),
        # for = 0, keep = 0: resolves on the first false, then is forgotten
        (0, 0, [True, False, False], [(F, [P, F]), (R, [R]), (N, [])]),
        # for = 2d: pending on day 0 and 1, firing on day 2 (2 days after it started)
        (2, 0, [True, True, True, True], [(P, [P]), (P, []), (F, [F]), (F, [])]),
        # a pending alert that clears resolves without ever firing
        (2, 7, [True, True, False, False], [(P, [P]), (P, []), (R, [R]), (N, [])]),
        # keep_firing_for = 2d: false on days 1 and 2 (1 and 2 days since last true) -> resolved
        # on day 2, not day 1
        (0, 2, [True, False, False, False], [(F, [P, F]), (F, []), (R, [R]), (N, [])]),
        # flapping inside keep_firing_for keeps one firing episode: no new transitions
        (
            0,
            2,
            [True, False, True, False, True, False, False],
            [
                (F, [P, F]),
                (F, []),
                (F, []),
                (F, []),
                (F, []),
                (F, []),
                (R, [R]),
            ],
        ),
        # flapping while pending (for = 2d): each true-false pair is a new short episode
        (2, 7, [True, False, True, False], [(P, [P]), (R, [R]), (P, [P]), (R, [R])]),
        # true again the day after resolving starts a new episode
        (0, 0, [True, False, True], [(F, [P, F]), (R, [R]), (F, [P, F])]),
    ],
)
def test_step_sequences(
    for_days: int, keep_days: int, conditions: list[bool], expected: list[tuple[str | None, list]]
) -> None:
    assert run(rule(for_days, keep_days), conditions) == expected


def test_timestamps_are_kept() -> None:
    r = rule(1, 3)
    s, moves = step(None, True, r, T0)
    assert s == AlertState("pending", T0, None, None, T0) and moves == [Transition("pending", T0)]
    t1 = T0 + timedelta(days=1)
    s, moves = step(s, True, r, t1)
    assert s is not None and (s.state, s.started_at, s.fired_at, s.last_true_at) == (
        "firing", T0, t1, t1)  # fmt: skip
    t4 = T0 + timedelta(days=4)
    s, moves = step(s, False, r, t4)
    assert s is not None and (s.state, s.resolved_at, s.fired_at) == ("resolved", t4, t1)
    assert moves == [Transition("resolved", t4)]


def test_pending_resolution_has_no_fired_at() -> None:
    r = rule(3, 0)
    s, _ = step(None, True, r, T0)
    s, moves = step(s, False, r, T0 + timedelta(hours=6))
    assert s is not None and s.state == "resolved" and s.fired_at is None
    assert moves == [Transition("resolved", T0 + timedelta(hours=6))]


def test_acknowledgement_is_carried_and_changes_nothing() -> None:
    r = rule(0, 1)
    s, _ = step(None, True, r, T0)
    assert s is not None
    acked = AlertState(**{**s.__dict__, "acknowledged_at": T0 + timedelta(hours=1)})
    s2, moves = step(acked, True, r, T0 + timedelta(days=1))
    assert s2 is not None and s2.state == "firing" and moves == []
    assert s2.acknowledged_at == T0 + timedelta(hours=1)
    s3, moves = step(s2, False, r, T0 + timedelta(days=2))
    assert s3 is not None and s3.state == "resolved"
    assert s3.acknowledged_at == T0 + timedelta(hours=1)


def test_keep_firing_counts_from_last_true_not_from_start() -> None:
    r = rule(0, 5)
    s, _ = step(None, True, r, T0)
    s, _ = step(s, True, r, T0 + timedelta(days=10))  # last true on day 10
    s, moves = step(s, False, r, T0 + timedelta(days=14))  # 4 days since: still firing
    assert s is not None and s.state == "firing" and moves == []
    s, moves = step(s, False, r, T0 + timedelta(days=15))  # 5 days since: resolved
    assert s is not None and s.state == "resolved" and [m.to for m in moves] == ["resolved"]
