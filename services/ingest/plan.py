"""What a batch does to the database, worked out without touching it.

`plan_batch(items, stored, retracted)` folds a batch of parsed events, in order, over the stored
state of the incidents they name, and returns every write the batch needs: incident rows to
upsert, versions and retractions to record, daily-count deltas, rejections, the notices to publish
afterwards and one outcome per event. The store applies it in one transaction; keeping the
decisions here makes them plain table-testable code.

Rules (DESIGN.md): a higher version replaces the stored one and moves its counts; an equal or
lower one is a duplicate (but still joins the version history); a retraction removes the incident
from every count for good, and a report that arrives after its retraction stays retracted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, NamedTuple

from msgspec import Struct

from services.core.events import Category, Incident, RawMessage, Rejection, Retraction
from services.core.notices import Change, Notice

Key = tuple[str, str]  # (source, id)
CountKey = tuple[str, date, str, str]  # (province, day, subregion or '', category)
Result = Literal["accepted", "duplicate", "updated", "retracted", "rejected"]
Rejected = tuple[RawMessage, Rejection, bytes | None]  # the message, why, its key


class Stored(NamedTuple):
    """The counted facts of an incident as the database holds them.

    A named tuple, not a dataclass: a batch makes one per event, and a tuple is made ~5× faster.
    """

    version: int
    retracted: bool
    province: str
    day: date
    subregion: str | None
    category: str
    killed: int
    injured: int
    occurred_at: datetime

    @classmethod
    def of(cls, incident: Incident, retracted: bool = False) -> Stored:
        return cls(
            incident.version,
            retracted,
            incident.province,
            incident.day,
            incident.subregion,
            _CATEGORY_VALUE[incident.category],
            incident.killed,
            incident.injured,
            incident.occurred_at,
        )

    @property
    def count_key(self) -> CountKey:
        return (self.province, self.day, self.subregion or "", self.category)


class Item(Struct, frozen=True, gc=False):
    """One message of the batch: where it came from and what `parse` made of it."""

    message: RawMessage
    parsed: Incident | Retraction | Rejection
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    reason: str = ""


# Outcomes without a reason are shared: a batch reports one per event.
_ACCEPTED = Outcome("accepted")
_UPDATED = Outcome("updated")
_DUPLICATE = Outcome("duplicate")
_RETRACTED = Outcome("retracted")
_CATEGORY_VALUE = {c: c.value for c in Category}


@dataclass
class Delta:
    incidents: int = 0
    killed: int = 0
    injured: int = 0

    def add(self, stored: Stored, sign: int) -> None:
        self.incidents += sign
        self.killed += sign * stored.killed
        self.injured += sign * stored.injured

    def __bool__(self) -> bool:
        return bool(self.incidents or self.killed or self.injured)


@dataclass
class Plan:
    upserts: dict[Key, tuple[Incident, bool]] = field(default_factory=dict)  # (current, retracted)
    # Upserted keys the database had no incident row for: plain inserts (no conflict possible
    # while ingest writes are serialised), and all their versions are new too.
    fresh: set[Key] = field(default_factory=set)
    retract_only: dict[Key, Retraction] = field(default_factory=dict)  # stored row to flag
    versions: dict[tuple[str, str, int], Incident] = field(default_factory=dict)
    retractions: dict[Key, Retraction] = field(default_factory=dict)  # new retraction records
    deltas: dict[CountKey, Delta] = field(default_factory=lambda: defaultdict(Delta))
    rejections: list[Rejected] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @classmethod
    def combined(cls, plans: list[Plan]) -> Plan:
        """What several committed plans report together: outcomes, notices, rejections."""
        out = cls()
        for plan in plans:
            out.outcomes += plan.outcomes
            out.notices += plan.notices
            out.rejections += plan.rejections
        return out

    def nonzero_deltas(self) -> dict[CountKey, Delta]:
        return {k: d for k, d in self.deltas.items() if d}  # one writer at a time: no lock order


def plan_batch(items: list[Item], stored: dict[Key, Stored], retracted: set[Key]) -> Plan:
    """Fold `items` in order over `stored` (the DB's rows for the batch's keys) and `retracted`
    (keys with a recorded retraction). Pure: the inputs are not modified."""
    plan = Plan()
    state = dict(stored)
    retracted = set(retracted)
    touched: dict[tuple[Key, str], _Touch] = {}
    for item in items:
        parsed = item.parsed
        if isinstance(parsed, Rejection):
            plan.rejections.append((item.message, parsed, item.key))
            plan.outcomes.append(Outcome("rejected", parsed.reason.value))
        elif isinstance(parsed, Incident):
            plan.outcomes.append(_report(plan, state, retracted, touched, parsed))
        else:
            plan.outcomes.append(_retract(plan, state, retracted, touched, parsed))
    plan.notices = [t.notice(key, province) for (key, province), t in touched.items()]
    plan.fresh = {key for key in plan.upserts if key not in stored}
    return plan


@dataclass
class _Touch:
    """The days one incident changed in one province, to become one notice."""

    version: int
    change: Change
    days: set[date] = field(default_factory=set)
    occurred_at: datetime | None = None

    def notice(self, key: Key, province: str) -> Notice:
        assert self.occurred_at is not None
        return Notice(
            province=province,
            source=key[0],
            id=key[1],
            version=self.version,
            change=self.change,
            days=tuple(sorted(self.days)),
            occurred_at=self.occurred_at,
        )


def _touch(
    touched: dict[tuple[Key, str], _Touch], key: Key, row: Stored, version: int, change: Change
) -> None:
    entry = touched.get((key, row.province))
    if entry is None:
        entry = touched[(key, row.province)] = _Touch(version, change)
    entry.version = version
    if not (entry.change == "accepted" and change == "updated"):  # new to the DB stays new
        entry.change = change
    entry.days.add(row.day)
    if entry.occurred_at is None or row.occurred_at > entry.occurred_at:
        entry.occurred_at = row.occurred_at


def _report(
    plan: Plan,
    state: dict[Key, Stored],
    retracted: set[Key],
    touched: dict[tuple[Key, str], _Touch],
    incident: Incident,
) -> Outcome:
    key = (incident.source, incident.id)
    plan.versions.setdefault((incident.source, incident.id, incident.version), incident)
    current = state.get(key)
    if current is not None and incident.version <= current.version:
        return _DUPLICATE
    if key in retracted:
        # A report after its retraction (or a newer version of a retracted one): keep it, flagged.
        state[key] = Stored.of(incident, retracted=True)
        plan.upserts[key] = (incident, True)
        return _RETRACTED
    new = Stored.of(incident)
    if current is not None:
        plan.deltas[current.count_key].add(current, -1)
        _touch(touched, key, current, incident.version, "updated")
    plan.deltas[new.count_key].add(new, +1)
    _touch(touched, key, new, incident.version, "updated" if current else "accepted")
    state[key] = new
    plan.upserts[key] = (incident, False)
    return _UPDATED if current else _ACCEPTED


def _retract(
    plan: Plan,
    state: dict[Key, Stored],
    retracted: set[Key],
    touched: dict[tuple[Key, str], _Touch],
    retraction: Retraction,
) -> Outcome:
    key = (retraction.source, retraction.id)
    if key in retracted:
        return _DUPLICATE
    retracted.add(key)
    plan.retractions[key] = retraction
    current = state.get(key)
    if current is not None and not current.retracted:
        plan.deltas[current.count_key].add(current, -1)
        _touch(touched, key, current, current.version, "retracted")
        state[key] = current._replace(retracted=True)
        if key in plan.upserts:
            plan.upserts[key] = (plan.upserts[key][0], True)
        else:
            plan.retract_only[key] = retraction
    return _RETRACTED
