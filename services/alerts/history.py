"""Alert histories, replayed and reconciled: the pure core of one evaluation.

`replay` runs the lifecycle (`step`) over a rule's findings in time order and returns the
episodes it produced; `reconcile` compares them with the stored episodes and says what to insert,
update and delete so the store holds the replayed history.

What "re-evaluate" means for transitions already stored (the event-time clock): the stored
history of a (province, rule) is kept equal to what a day-by-day evaluation over the *current*
data produces — so a replay gives the same history at any speed, and a late event or a
retraction yields the history that would have been, had it arrived on time. When the data of a
past day D changes, the days from D forward are replayed from the state the alert was in at the
close of D−1, and from `since` = D's stamp on:
- a transition both stored and replayed (same episode, same state, same time) stays as it is:
  same seq, not published again;
- a replayed transition that is not stored is inserted, and so published (its time may be in the
  past: it is when the alert would have changed);
- a stored transition the replay no longer produces is deleted and its alert row corrected; an
  episode that no longer happens at all is deleted with its transitions (an acknowledgement of
  it too). Each correction is announced on the `alerts` topic as a withdrawal (straight after
  the commit, best effort: the database stays the truth the api serves).
Under the live clock every evaluation is one step at wall time, `since` is that time, and nothing
stored is ever withdrawn: the past stays what was known then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.alerts.lifecycle import AlertState, State, step
from services.alerts.model import Finding, Rule


@dataclass(frozen=True)
class Change:
    """One replayed transition and the finding of the evaluation that made it."""

    to: State
    at: datetime
    finding: Finding


@dataclass
class Episode:
    """One alert episode as replayed: its state at the end, the changes made, and its cause.

    `cause` is the finding of the last evaluation in the replay where the condition held (None:
    it did not hold in the replay, so the stored explanation stands); `before` is the state the
    episode was in when the replay began (None for an episode the replay opened).
    """

    state: AlertState
    changes: list[Change] = field(default_factory=list)
    cause: Finding | None = None
    before: State | None = None


@dataclass(frozen=True)
class Replay:
    episodes: tuple[Episode, ...]  # oldest first; only the last may still be open
    latest: Finding | None  # the finding at the last evaluation


def replay(
    rule: Rule,
    evaluations: Iterable[tuple[datetime, Finding]],
    state: AlertState | None = None,
    cause: Finding | None = None,
) -> Replay:
    """Step the lifecycle through `evaluations` (time order) from `state` (the open episode)."""
    episodes: list[Episode] = []
    current: Episode | None = None
    if state is not None and state.state != "resolved":
        current = Episode(state, cause=cause, before=state.state)
        episodes.append(current)
    latest: Finding | None = None
    for at, finding in evaluations:
        latest = finding
        after, transitions = step(current.state if current else None, finding.fired, rule, at)
        if after is None:
            continue
        if current is None:
            current = Episode(after)
            episodes.append(current)
        current.state = after
        current.changes.extend(Change(t.to, t.at, finding) for t in transitions)
        if finding.fired:
            current.cause = finding
        if after.state == "resolved":
            current = None
    return Replay(tuple(episodes), latest)


@dataclass(frozen=True)
class StoredTransition:
    seq: int
    to: str
    at: datetime


@dataclass(frozen=True)
class StoredEpisode:
    """An alert row as far as reconciling goes (acknowledgements are not transitions here)."""

    id: int
    started_at: datetime
    transitions: tuple[StoredTransition, ...]


@dataclass(frozen=True)
class Update:
    """An existing alert row to bring to `episode`: insert `new`, delete `removed`."""

    alert_id: int
    episode: Episode
    new: tuple[Change, ...]
    removed: tuple[StoredTransition, ...]


@dataclass(frozen=True)
class Plan:
    inserts: tuple[Episode, ...]
    updates: tuple[Update, ...]
    deletes: tuple[StoredEpisode, ...]

    @property
    def withdrawals(self) -> int:
        return sum(len(u.removed) for u in self.updates) + len(self.deletes)


def reconcile(stored: Sequence[StoredEpisode], replayed: Replay, since: datetime) -> Plan:
    """What to write so the store holds `replayed` from `since` on (see the module docstring).

    Episodes match on `started_at`; stored transitions before `since` are never touched, and a
    stored episode that started before `since` and has no replayed match is left alone.
    """
    by_start = {e.started_at: e for e in stored}
    inserts: list[Episode] = []
    updates: list[Update] = []
    matched: set[int] = set()
    for episode in replayed.episodes:
        old = by_start.get(episode.state.started_at)
        if old is None:
            inserts.append(episode)
            continue
        matched.add(old.id)
        have = {(t.to, t.at) for t in old.transitions}
        want = {(c.to, c.at) for c in episode.changes}
        new = tuple(c for c in episode.changes if (c.to, c.at) not in have)
        removed = tuple(t for t in old.transitions if t.at >= since and (t.to, t.at) not in want)
        updates.append(Update(old.id, episode, new, removed))
    deletes = tuple(e for e in stored if e.id not in matched and e.started_at >= since)
    return Plan(tuple(inserts), tuple(updates), deletes)
