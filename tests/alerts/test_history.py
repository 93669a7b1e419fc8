"""replay and reconcile: tables of hand-made findings and stored episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.history import (
    Replay,
    StoredEpisode,
    StoredTransition,
    reconcile,
    replay,
)
from services.alerts.lifecycle import AlertState
from services.alerts.model import Finding, Rule

T0 = datetime(2024, 3, 1, 19, tzinfo=UTC)
RULE = Rule(
    name="r",
    metric="incidents",
    window=timedelta(days=7),
    method="ratio",
    for_=timedelta(days=1),
    keep_firing_for=timedelta(days=1),
)


def day(i: int) -> datetime:
    return T0 + timedelta(days=i)


def finding(fired: bool, observed: float = 1.0) -> Finding:
    return Finding(fired, observed, 1.0, 2.0, "ratio", "7d")


def run(pattern: str, state: AlertState | None = None) -> Replay:
    """`pattern`: one character a day, 'x' = the condition holds, '.' = it does not."""
    return replay(RULE, [(day(i), finding(c == "x")) for i, c in enumerate(pattern)], state)


def shape(r: Replay) -> list[list[tuple[str, int]]]:
    return [[(c.to, (c.at - T0).days) for c in e.changes] for e in r.episodes]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("....", []),
        # pending on day 1, firing a day later (for 1d), resolved once false for 1d
        (".xx..", [[("pending", 1), ("firing", 2), ("resolved", 3)]]),
        # a pending alert that clears never fired
        (".x.", [[("pending", 1), ("resolved", 2)]]),
        # two episodes, the second still open at the end
        (
            "xx.xx",
            [[("pending", 0), ("firing", 1), ("resolved", 2)], [("pending", 3), ("firing", 4)]],
        ),
    ],
)
def test_replay_episodes(pattern: str, expected: list[list[tuple[str, int]]]) -> None:
    assert shape(run(pattern)) == expected


def test_replay_keeps_the_cause_and_the_latest_finding() -> None:
    evaluations = [
        (day(0), finding(True, 5)),
        (day(1), finding(True, 7)),
        (day(2), finding(False, 1)),
    ]
    r = replay(RULE, evaluations)
    assert r.episodes[0].cause is not None and r.episodes[0].cause.observed == 7
    assert r.latest is not None and r.latest.observed == 1


def test_replay_continues_an_open_episode() -> None:
    open_ = AlertState("firing", day(-5), day(-4), None, day(-1))
    r = run("x.", state=open_)
    assert len(r.episodes) == 1
    episode = r.episodes[0]
    assert episode.before == "firing" and episode.state.started_at == day(-5)
    assert [(c.to, (c.at - T0).days) for c in episode.changes] == [("resolved", 1)]


def stored(alert_id: int, *steps: tuple[str, int], seq0: int = 100) -> StoredEpisode:
    return StoredEpisode(
        alert_id,
        day(steps[0][1]),
        tuple(StoredTransition(seq0 + i, to, day(d)) for i, (to, d) in enumerate(steps)),
    )


def test_reconcile_an_identical_history_changes_nothing() -> None:
    r = run(".xx..")
    plan = reconcile([stored(1, ("pending", 1), ("firing", 2), ("resolved", 3))], r, day(0))
    assert plan.inserts == () and plan.deletes == ()
    assert [(u.alert_id, u.new, u.removed) for u in plan.updates] == [(1, (), ())]
    assert plan.withdrawals == 0


def test_reconcile_a_withdrawn_resolution_reopens_the_alert() -> None:
    # Stored: resolved on day 3 (judged on a partial day); the full day keeps it firing.
    r = run(".xxx")
    old = stored(1, ("pending", 1), ("firing", 2), ("resolved", 3))
    plan = reconcile([old], r, day(3))
    (update,) = plan.updates
    assert update.new == ()
    assert [(t.seq, t.to) for t in update.removed] == [(102, "resolved")]
    assert update.episode.state.state == "firing"


def test_reconcile_inserts_new_episodes_and_deletes_vanished_ones() -> None:
    r = run("...xx")
    gone = stored(7, ("pending", 1), ("resolved", 2))
    plan = reconcile([gone], r, day(0))
    assert [e.state.started_at for e in plan.inserts] == [day(3)]
    assert plan.deletes == (gone,)
    assert plan.withdrawals == 1


def test_reconcile_never_touches_what_precedes_since() -> None:
    # Live clock: the stored episode's old transitions are the past; only the new step counts.
    open_ = AlertState("pending", day(-3), None, None, day(-1))
    r = replay(RULE, [(day(0), finding(True))], open_)
    old = stored(3, ("pending", -3))
    plan = reconcile([old], r, day(0))
    (update,) = plan.updates
    assert update.removed == ()
    assert [(c.to, c.at) for c in update.new] == [("firing", day(0))]
    # and a stored episode that began before `since` without a replayed match is left alone
    assert reconcile([old], run("."), day(0)).deletes == ()
