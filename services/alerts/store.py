"""The alerts service's database side: counts in; alerts, transitions and progress out.

Invariants:
- One evaluation of a province is one transaction: its transitions, the alert rows they change
  and the province's evaluation progress commit together or not at all.
- Evaluations of one province are serialised across instances: a per-province advisory lock on
  PostgreSQL, `BEGIN IMMEDIATE` on SQLite.
- At most one open alert per (province, rule): the partial unique index guarantees it.
- The alerts service never writes `acknowledged_at`/`acknowledged_by`, nor deletes an
  acknowledgement of an alert that still exists: those belong to the api.
- `alert_transitions.published_at` is an outbox: NULL until the row was sent to the `alerts`
  topic (acknowledgements written by the api included).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, null, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.alerts.digest import DataDigest, DayRow
from services.alerts.explain import finding_json, rule_json
from services.alerts.history import Change, Episode, Plan, StoredEpisode, StoredTransition
from services.alerts.lifecycle import AlertState, State
from services.alerts.model import Rule
from services.core.models import (
    AlertProgressRow,
    AlertRow,
    AlertTransitionRow,
    DailyCountRow,
)

_LIFECYCLE = ("pending", "firing", "resolved")


def utc(moment: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive datetimes; every stored one is UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


def province_lock_key(province: str) -> int:
    """A stable signed 64-bit advisory-lock key for one province's evaluations."""
    digest = hashlib.blake2b(f"surgewatch-alerts:{province}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class Progress:
    clock: str
    rule_hash: str
    evaluated_through: date
    digest: DataDigest | None = None  # of the counts read, up to evaluated_through (event time)


@dataclass(frozen=True)
class EvaluatedCounts:
    """A province's progress per rule, and its daily totals up to the newest evaluated day."""

    progress: dict[str, Progress]
    rows: list[DayRow]


@dataclass(frozen=True)
class StoredAlert:
    """An alert row with its lifecycle transitions (oldest first, acknowledgements left out)."""

    id: int
    rule: str
    state: str
    severity: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_true_at: datetime
    acknowledged_at: datetime | None
    transitions: tuple[StoredTransition, ...]

    def episode(self) -> StoredEpisode:
        return StoredEpisode(self.id, self.started_at, self.transitions)

    def alert_state(self) -> AlertState:
        state: State = "firing" if self.state == "firing" else "pending"
        if self.state == "resolved":
            state = "resolved"
        return AlertState(
            state,
            self.started_at,
            self.fired_at,
            self.resolved_at,
            self.last_true_at,
            self.acknowledged_at,
        )


@dataclass(frozen=True)
class Withdrawal:
    """A stored history correction to announce: the alert as it now stands (None: deleted)."""

    alert_id: int
    province: str
    rule: Rule
    removed: tuple[StoredTransition, ...]
    state: str  # the alert's state after the correction, or "withdrawn"
    started_at: datetime


@dataclass(frozen=True)
class Outgoing:
    """A transition to relay to the `alerts` topic, with the alert it belongs to."""

    seq: int
    alert_id: int
    from_state: str | None
    to_state: str
    at: datetime
    recorded_at: datetime
    details: dict[str, Any]
    province: str
    rule: str
    method: str
    metric: str
    severity: str
    window: str
    state: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    observed: float
    expected: float
    threshold: float
    score: float | None
    p_value: float | None
    baseline_start: date | None
    baseline_end: date | None
    explanation: dict[str, Any]


class AlertStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def newest_day(self) -> date | None:
        """The newest day in daily_counts (any province): the event-time clock's floor."""
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.max(DailyCountRow.day)))).scalar_one()

    async def newest_progress(self, clock: str) -> date | None:
        """The newest day already evaluated under `clock` (the clock never goes back past it)."""
        query = select(func.max(AlertProgressRow.evaluated_through)).where(
            AlertProgressRow.clock == clock
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one()

    async def evaluated_counts(
        self, provinces: Iterable[str], clock: str
    ) -> dict[str, EvaluatedCounts]:
        """Per province with progress under `clock`: that progress, and the daily totals up to
        its newest evaluated day. Progress is read first, so the totals are never older than
        the digests they are compared with."""
        names = sorted(set(provinces))
        if not names:
            return {}
        p, d = AlertProgressRow, DailyCountRow
        out: dict[str, EvaluatedCounts] = {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    p.province, p.rule, p.clock, p.rule_hash, p.evaluated_through, p.data_digest
                ).where(p.province.in_(names), p.clock == clock)
            )
            for r in rows:
                progress = Progress(
                    r.clock, r.rule_hash, r.evaluated_through, DataDigest.from_json(r.data_digest)
                )
                out.setdefault(r.province, EvaluatedCounts({}, [])).progress[r.rule] = progress
            if not out:
                return out
            through = max(x.evaluated_through for e in out.values() for x in e.progress.values())
            totals = await conn.execute(
                select(
                    d.province,
                    d.day,
                    func.sum(d.incidents),
                    func.sum(d.killed),
                    func.sum(d.injured),
                )
                .where(d.province.in_(sorted(out)), d.day <= through)
                .group_by(d.province, d.day)
            )
            for province, day, i, k, j in totals:
                out[province].rows.append((day, int(i or 0), int(k or 0), int(j or 0)))
        return out

    @asynccontextmanager
    async def province(self, province: str) -> AsyncIterator[ProvinceTransaction]:
        """One evaluation's transaction for `province`, serialised against other evaluators."""
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": province_lock_key(province)}
                )
            yield ProvinceTransaction(conn, province)

    async def unpublished(self, provinces: Iterable[str], limit: int = 500) -> list[Outgoing]:
        """Transitions of these provinces' alerts not yet relayed, oldest first."""
        names = sorted(set(provinces))
        if not names:
            return []
        t, a = AlertTransitionRow, AlertRow
        query = (
            select(
                t.seq,
                t.alert_id,
                t.from_state,
                t.to_state,
                t.at,
                t.recorded_at,
                t.details,
                a.province,
                a.rule,
                a.method,
                a.metric,
                a.severity,
                a.window,
                a.state,
                a.started_at,
                a.fired_at,
                a.resolved_at,
                a.acknowledged_at,
                a.acknowledged_by,
                a.observed,
                a.expected,
                a.threshold,
                a.score,
                a.p_value,
                a.baseline_start,
                a.baseline_end,
                a.explanation,
            )
            .join(a, a.id == t.alert_id)
            .where(t.published_at.is_(None), a.province.in_(names))
            .order_by(t.seq)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Outgoing(
                **{
                    **row._asdict(),
                    "at": utc(row.at),
                    "recorded_at": utc(row.recorded_at),
                    "started_at": utc(row.started_at),
                    "fired_at": _utc_or_none(row.fired_at),
                    "resolved_at": _utc_or_none(row.resolved_at),
                    "acknowledged_at": _utc_or_none(row.acknowledged_at),
                }
            )
            for row in rows
        ]

    async def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        if not seqs:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                update(AlertTransitionRow)
                .where(AlertTransitionRow.seq.in_(list(seqs)))
                .values(published_at=at)
            )


class ProvinceTransaction:
    """Reads and writes of one province inside one evaluation's transaction."""

    def __init__(self, conn: AsyncConnection, province: str) -> None:
        self.conn = conn
        self.province = province

    async def progress(self) -> dict[str, Progress]:
        p = AlertProgressRow
        rows = await self.conn.execute(
            select(p.rule, p.clock, p.rule_hash, p.evaluated_through, p.data_digest).where(
                p.province == self.province
            )
        )
        return {
            r.rule: Progress(
                r.clock, r.rule_hash, r.evaluated_through, DataDigest.from_json(r.data_digest)
            )
            for r in rows
        }

    async def set_progress(
        self,
        rule: str,
        clock: str,
        rule_hash: str,
        day: date,
        now: datetime,
        exists: bool,
        digest: DataDigest | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "clock": clock,
            "rule_hash": rule_hash,
            "evaluated_through": day,
            "data_digest": digest.to_json() if digest is not None else null(),  # SQL NULL
        }
        p = AlertProgressRow
        if exists:
            await self.conn.execute(
                update(p)
                .where(p.province == self.province, p.rule == rule)
                .values(**values, updated_at=now)
            )
        else:
            await self.conn.execute(
                insert(p).values(province=self.province, rule=rule, **values, updated_at=now)
            )

    async def first_day(self) -> date | None:
        """The province's first day with counts."""
        query = select(func.min(DailyCountRow.day)).where(DailyCountRow.province == self.province)
        return (await self.conn.execute(query)).scalar_one()

    async def history_start(self) -> date | None:
        """The first day in daily_counts, any province: where recorded history begins."""
        return (await self.conn.execute(select(func.min(DailyCountRow.day)))).scalar_one()

    async def counts(self, start: date, end: date) -> list[DayRow]:
        """(day, incidents, killed, injured) summed over subregions and categories."""
        d = DailyCountRow
        query = (
            select(d.day, func.sum(d.incidents), func.sum(d.killed), func.sum(d.injured))
            .where(d.province == self.province, d.day >= start, d.day <= end)
            .group_by(d.day)
            .order_by(d.day)
        )
        rows = await self.conn.execute(query)
        return [(day, int(i or 0), int(k or 0), int(j or 0)) for day, i, k, j in rows]

    async def alerts(self, rules: Iterable[str], open_at: datetime) -> dict[str, list[StoredAlert]]:
        """Alerts of these rules still open at `open_at` or started since, oldest first."""
        a, t = AlertRow, AlertTransitionRow
        query = (
            select(a)
            .where(
                a.province == self.province,
                a.rule.in_(list(rules)),
                or_(a.resolved_at.is_(None), a.resolved_at >= open_at),
            )
            .order_by(a.started_at)
        )
        rows = (await self.conn.execute(query)).all()
        ids = [r.id for r in rows]
        transitions: dict[int, list[StoredTransition]] = {i: [] for i in ids}
        if ids:
            trows = await self.conn.execute(
                select(t.alert_id, t.seq, t.to_state, t.at)
                .where(t.alert_id.in_(ids), t.to_state.in_(_LIFECYCLE))
                .order_by(t.at, t.seq)
            )
            for alert_id, seq, to, at in trows:
                transitions[alert_id].append(StoredTransition(seq, to, utc(at)))
        out: dict[str, list[StoredAlert]] = {}
        for r in rows:
            out.setdefault(r.rule, []).append(
                StoredAlert(
                    id=r.id,
                    rule=r.rule,
                    state=r.state,
                    severity=r.severity,
                    started_at=utc(r.started_at),
                    fired_at=_utc_or_none(r.fired_at),
                    resolved_at=_utc_or_none(r.resolved_at),
                    last_true_at=utc(r.last_true_at),
                    acknowledged_at=_utc_or_none(r.acknowledged_at),
                    transitions=tuple(transitions[r.id]),
                )
            )
        return out

    async def apply(
        self, rule: Rule, plan: Plan, stored: Sequence[StoredAlert], now: datetime
    ) -> list[Withdrawal]:
        """Write `plan` for `rule`; return the corrections to announce."""
        by_id = {s.id: s for s in stored}
        withdrawals: list[Withdrawal] = []
        for gone in plan.deletes:
            await self.conn.execute(delete(AlertRow).where(AlertRow.id == gone.id))
            withdrawals.append(
                Withdrawal(
                    gone.id, self.province, rule, gone.transitions, "withdrawn", gone.started_at
                )
            )
        for upd in plan.updates:
            if upd.removed:
                seqs = [t.seq for t in upd.removed]
                await self.conn.execute(
                    delete(AlertTransitionRow).where(AlertTransitionRow.seq.in_(seqs))
                )
            await self._update_alert(upd.alert_id, rule, upd.episode, now)
            await self._insert_changes(upd.alert_id, upd.episode, upd.new, now)
            if upd.removed:
                old = by_id.get(upd.alert_id)
                withdrawals.append(
                    Withdrawal(
                        upd.alert_id,
                        self.province,
                        rule,
                        upd.removed,
                        upd.episode.state.state,
                        old.started_at if old else upd.episode.state.started_at,
                    )
                )
        for episode in plan.inserts:
            alert_id = await self._insert_alert(rule, episode, now)
            await self._insert_changes(alert_id, episode, tuple(episode.changes), now)
        return withdrawals

    async def firing_by_severity(self) -> dict[str, int]:
        a = AlertRow
        rows = await self.conn.execute(
            select(a.severity, func.count())
            .where(a.province == self.province, a.state == "firing")
            .group_by(a.severity)
        )
        return {severity: int(n) for severity, n in rows}

    async def _insert_alert(self, rule: Rule, episode: Episode, now: datetime) -> int:
        state = episode.state
        values: dict[str, Any] = {
            "rule": rule.name,
            "method": rule.method,
            "metric": rule.metric,
            "province": self.province,
            "severity": rule.severity,
            "window": f"{rule.window.days}d",
            **_state_values(state),
            **_cause_values(rule, episode),
            "updated_at": now,
        }
        result = await self.conn.execute(insert(AlertRow).values(**values).returning(AlertRow.id))
        return int(result.scalar_one())

    async def _update_alert(
        self, alert_id: int, rule: Rule, episode: Episode, now: datetime
    ) -> None:
        values: dict[str, Any] = {**_state_values(episode.state), "updated_at": now}
        if episode.cause is not None:
            values.update(_cause_values(rule, episode))
        await self.conn.execute(update(AlertRow).where(AlertRow.id == alert_id).values(**values))

    async def _insert_changes(
        self, alert_id: int, episode: Episode, changes: Sequence[Change], now: datetime
    ) -> None:
        if not changes:
            return
        previous = _previous_states(episode)
        rows = [
            {
                "alert_id": alert_id,
                "from_state": previous[(c.to, c.at)],
                "to_state": c.to,
                "at": c.at,
                "recorded_at": now,
                "details": _change_details(episode, c),
                "published_at": None,
            }
            for c in changes
        ]
        await self.conn.execute(insert(AlertTransitionRow), rows)


def _state_values(state: AlertState) -> dict[str, Any]:
    return {
        "state": state.state,
        "started_at": state.started_at,
        "fired_at": state.fired_at,
        "resolved_at": state.resolved_at,
        "last_true_at": state.last_true_at,
    }


def _cause_values(rule: Rule, episode: Episode) -> dict[str, Any]:
    finding = episode.cause
    if finding is None:  # a new episode always has one; keep the row valid regardless
        return {"observed": 0.0, "expected": 0.0, "threshold": 0.0, "explanation": rule_json(rule)}
    data = finding_json(finding)
    return {
        "observed": data["observed"] or 0.0,
        "expected": data["expected"] or 0.0,
        "threshold": data["threshold"] or 0.0,
        "score": data["score"],
        "p_value": data["p_value"],
        "baseline_start": finding.baseline_start,
        "baseline_end": finding.baseline_end,
        "explanation": {**rule_json(rule), "finding": data},
    }


def _previous_states(episode: Episode) -> dict[tuple[str, datetime], str | None]:
    """Each change's `from` state: the change before it, or the state the replay began in."""
    out: dict[tuple[str, datetime], str | None] = {}
    before: str | None = episode.before
    for change in episode.changes:
        out[(change.to, change.at)] = before
        before = change.to
    return out


def _change_details(episode: Episode, change: Change) -> dict[str, Any]:
    """What a transition row keeps: the finding that made it and the alert's times just after."""
    state = episode.state
    fired = state.fired_at if state.fired_at and state.fired_at <= change.at else None
    resolved = state.resolved_at if state.resolved_at and state.resolved_at <= change.at else None
    return {
        "finding": finding_json(change.finding),
        "alert": {
            "state": change.to,
            "started_at": state.started_at.isoformat(),
            "fired_at": fired.isoformat() if fired else None,
            "resolved_at": resolved.isoformat() if resolved else None,
        },
    }
