"""One evaluation of one province: counts and stored alerts in, detect, replay, reconcile, commit.

- live clock: one lifecycle step per rule at wall time, judging today (`as_of`). A late event
  for a past day changes today's judgement only through the windows that cover that day (the
  observed window and the baseline), and judging today reads exactly those: the past
  transitions stay what was known when they happened.
- event-time clock: every day from the rule's progress (or the earliest changed day) up to the
  clock's day, in order, stamped at each day's close; the result replaces the stored history
  from that day on (see `services.alerts.history`). Catch-up runs in chunks of `CHUNK_DAYS`, one
  transaction each, with the progress in the same transaction, so a crash loses at most the chunk
  in hand and a restart resumes from the last committed day.

Each event-time evaluation also stores, with every rule's progress, a digest of the counts it
read (`services.alerts.digest`); `changed_days` compares it with the stored counts, so the worker
re-evaluates a change whose notice never came, from the earliest changed block.

A database is judged under one clock: a rule's progress records its clock and a fingerprint of
the rule, and a different clock or a changed rule re-evaluates that rule from the first day,
replacing the history written before (under event time) — switching clocks on a database that
holds live history therefore rewrites it.

Detection is CPU work: it runs in a worker thread so the Kafka client keeps heartbeating.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.alerts.clock import AlertClock, closed_day
from services.alerts.detectors import detect
from services.alerts.digest import DataDigest, block_hashes, first_change, floor_to_block, merged
from services.alerts.explain import rule_hash
from services.alerts.history import Plan, Replay, StoredEpisode, reconcile, replay
from services.alerts.lifecycle import AlertState
from services.alerts.metrics import WINDOWS, AlertsMetrics
from services.alerts.model import Finding, Metric, Rule, Series
from services.alerts.series import daily_series
from services.alerts.store import (
    AlertStore,
    DayRow,
    Progress,
    ProvinceTransaction,
    StoredAlert,
    Withdrawal,
)
from services.core.settings import Clock

CHUNK_DAYS = 92
# History every rule is given at least: farrington's b = 3 years ± w weeks, record's 3 years.
BASE_HISTORY_DAYS = 3 * 366 + 10 * 7
BASELINE_WEEKS = 52  # the expected-incidents gauge, as the api's picture computes it


def lookback_days(rule: Rule) -> int:
    """Days of history before `as_of` the rule may read (generous: more never hurts)."""
    need = [BASE_HISTORY_DAYS]
    for key, value in rule.params.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if key in ("baseline_weeks", "weeks"):
            need.append(int(7 * value) + 7)
        elif key in ("years", "b"):
            need.append(int(366 * value) + 10 * 7)
    return rule.window.days + max(need)


@dataclass
class Outcome:
    """What one `evaluate` call did (possibly over several committed chunks)."""

    province: str
    as_of: date | None = None
    days: int = 0  # province-days evaluated
    written: int = 0  # transitions inserted
    withdrawals: list[Withdrawal] = field(default_factory=list)
    complete: bool = True  # False if stopped before reaching as_of


@dataclass(frozen=True)
class _RulePlan:
    rule: Rule
    plan: Plan
    stored: tuple[StoredAlert, ...]
    replayed: Replay


class Evaluator:
    """Evaluates provinces; collaborators are passed in (store, rules, clock, metrics)."""

    def __init__(
        self,
        store: AlertStore,
        rules: Sequence[Rule],
        clock: AlertClock,
        metrics: AlertsMetrics,
    ) -> None:
        self.store = store
        self.rules = tuple(rules)
        self.clock = clock
        self.metrics = metrics
        self.hashes = {r.name: rule_hash(r) for r in self.rules}
        self.lookback = max(lookback_days(r) for r in self.rules)
        self.keep_days = max(r.keep_firing_for.days for r in self.rules) + 1
        self._observed: dict[str, date] = {}  # the day each province's gauges were set for

    def forget(self, province: str) -> None:
        """Another instance owns `province` now: its gauges here are zeroed, to be set anew."""
        self._observed.pop(province, None)
        self.metrics.reset_province(province)

    async def changed_days(self, provinces: Iterable[str]) -> dict[str, date]:
        """Event time: per province whose stored counts differ from those its history was
        evaluated on, the day to re-evaluate from (the first day of the earliest changed block;
        the first day with data where a digest is unknown). Unchanged provinces are left out."""
        if self.clock.kind != Clock.event_time:
            return {}
        found = await self.store.evaluated_counts(provinces, Clock.event_time.value)
        out: dict[str, date] = {}
        for province, evaluated in found.items():
            current: dict[date, dict[int, str]] = {}  # block hashes by evaluated_through
            days = []
            for rule, p in evaluated.progress.items():
                if not self._valid(p, rule):
                    continue  # another rule now, or gone: re-evaluated from its start anyway
                through = p.evaluated_through
                if through not in current:
                    current[through] = block_hashes(evaluated.rows, through)
                day = first_change(p.digest, current[through])
                if day is not None:
                    days.append(day)
            if days:
                out[province] = min(days)
        return out

    async def evaluate(
        self,
        province: str,
        changed_from: date | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> Outcome:
        """Evaluate `province` up to the clock's day; `changed_from` = earliest changed day."""
        as_of = self.clock.as_of()
        outcome = Outcome(province, as_of)
        if as_of is None:
            return outcome
        started = time.perf_counter()
        if self.clock.kind == Clock.live:
            await self._live(province, as_of, outcome)
        else:
            while True:
                done = await self._event_chunk(province, as_of, changed_from, outcome)
                changed_from = None  # the first chunk covered it
                if done:
                    break
                if stopping():
                    outcome.complete = False
                    break
        self.metrics.evaluation_seconds.observe(time.perf_counter() - started)
        return outcome

    # --- live --------------------------------------------------------------------------------

    async def _live(self, province: str, as_of: date, outcome: Outcome) -> None:
        now = self.clock.stamp(as_of)
        async with self.store.province(province) as tx:
            progress = await tx.progress()
            stored = await tx.alerts(self.hashes, open_at=now)
            rows = await tx.counts(as_of - timedelta(days=self.lookback), as_of)
            history_start = await tx.history_start()

            def compute() -> list[_RulePlan]:
                lo = as_of - timedelta(days=self.lookback)
                series = self._series(province, rows, lo, as_of, history_start)
                out = []
                for rule in self.rules:
                    current = [a for a in stored.get(rule.name, []) if a.state != "resolved"]
                    state = current[0].alert_state() if current else None
                    finding = detect(series[rule.metric], rule, as_of)
                    replayed = replay(rule, [(now, finding)], state)
                    episodes = [a.episode() for a in current]
                    out.append(
                        _RulePlan(
                            rule, reconcile(episodes, replayed, now), tuple(current), replayed
                        )
                    )
                self._observe(province, series, as_of, history_start, out)
                return out

            plans = await asyncio.to_thread(compute)
            await self._write(tx, plans, progress, as_of, outcome)
            await self._observe_firing(tx, province)
        outcome.days += 1
        self.metrics.days_evaluated.inc()

    # --- event time --------------------------------------------------------------------------

    async def _event_chunk(
        self, province: str, as_of: date, changed_from: date | None, outcome: Outcome
    ) -> bool:
        """Evaluate one chunk in one transaction; True once every rule has reached `as_of`."""
        async with self.store.province(province) as tx:
            progress = await tx.progress()
            first = await tx.first_day()
            spans = self._spans(progress, first, changed_from, as_of)
            if not spans:
                if first is not None and self._observed.get(province) != as_of:
                    await self._observe_idle(tx, province, as_of)
                return True
            end = self._chunk_end(spans, progress, as_of)
            starts = {name: start for name, (start, _) in spans.items() if start <= end}
            if not starts:
                return True
            earliest = min(starts.values())
            stored = await tx.alerts(starts, open_at=self.clock.stamp(earliest))
            lo = earliest - timedelta(days=self.lookback + self.keep_days)
            read_from = floor_to_block(lo)  # whole blocks, for the digests
            rows = await tx.counts(read_from, end)
            history_start = await tx.history_start()
            fresh = block_hashes(rows, end)
            digests = {
                name: merged(self._digest(progress.get(name), name), fresh, read_from, first)
                for name in starts
            }

            def compute() -> list[_RulePlan]:
                series = self._series(province, rows, lo, end, history_start)
                out = []
                for rule in self.rules:
                    if rule.name not in starts:
                        continue
                    start = starts[rule.name]
                    resumed = spans[rule.name][1]
                    out.append(
                        self._replay_days(
                            rule, series, start, end, stored.get(rule.name, []), resumed
                        )
                    )
                if end == as_of:
                    self._observe(province, series, as_of, history_start, out)
                return out

            plans = await asyncio.to_thread(compute)
            await self._write(tx, plans, progress, end, outcome, digests)
            if end == as_of:
                await self._observe_firing(tx, province)
        days = sum((end - s).days + 1 for s in starts.values()) // max(1, len(starts))
        outcome.days += days
        self.metrics.days_evaluated.inc(days)
        return end >= as_of

    def _spans(
        self,
        progress: Mapping[str, Progress],
        first: date | None,
        changed_from: date | None,
        as_of: date,
    ) -> dict[str, tuple[date, bool]]:
        """Per rule: the first day to evaluate, and whether that resumes right after progress."""
        out: dict[str, tuple[date, bool]] = {}
        for rule in self.rules:
            p = progress.get(rule.name)
            through = p.evaluated_through if p is not None and self._valid(p, rule.name) else None
            if through is None:
                if first is None:
                    continue  # no data, nothing evaluated: nothing can fire
                start = min(first, changed_from) if changed_from else first
                resumed = False
            else:
                start, resumed = through + timedelta(days=1), True
                if changed_from is not None and changed_from <= through:
                    start, resumed = changed_from, False
            if start <= as_of:
                out[rule.name] = (start, resumed)
        return out

    def _valid(self, p: Progress, rule: str) -> bool:
        """The progress is this rule's, under this (event-time) clock."""
        return p.clock == Clock.event_time and p.rule_hash == self.hashes.get(rule)

    def _digest(self, p: Progress | None, rule: str) -> DataDigest | None:
        return p.digest if p is not None and self._valid(p, rule) else None

    @staticmethod
    def _chunk_end(
        spans: Mapping[str, tuple[date, bool]], progress: Mapping[str, Progress], as_of: date
    ) -> date:
        """Cover every day already stored in one go (a re-evaluation is never split), then
        move forward at most CHUNK_DAYS more."""
        earliest = min(start for start, _ in spans.values())
        stored_through = max(
            (
                progress[name].evaluated_through
                for name, (_, resumed) in spans.items()
                if name in progress and not resumed
            ),
            default=earliest,
        )
        forward = earliest + timedelta(days=CHUNK_DAYS - 1)
        return min(as_of, max(stored_through, forward))

    def _replay_days(
        self,
        rule: Rule,
        series: Mapping[Metric, Series],
        start: date,
        end: date,
        stored: Sequence[StoredAlert],
        resumed: bool,
    ) -> _RulePlan:
        stamp = self.clock.stamp
        since = stamp(start)
        before = [a for a in stored if a.started_at < since]
        open_then = [a for a in before if a.resolved_at is None or a.resolved_at >= since]
        later = [a for a in stored if a.started_at >= since]
        state: AlertState | None = None
        cause: Finding | None = None
        if open_then:
            state, cause = self._state_before(rule, series, open_then[-1], start, resumed)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        metric_series = series[rule.metric]
        replayed = replay(
            rule, ((stamp(d), detect(metric_series, rule, d)) for d in days), state, cause
        )
        candidates: list[StoredEpisode] = [a.episode() for a in open_then[-1:] + later]
        plan = reconcile(candidates, replayed, since)
        return _RulePlan(rule, plan, tuple(open_then[-1:] + later), replayed)

    def _state_before(
        self,
        rule: Rule,
        series: Mapping[Metric, Series],
        alert: StoredAlert,
        start: date,
        resumed: bool,
    ) -> tuple[AlertState, Finding | None]:
        """The alert's state at the close of `start` − 1 day.

        Resuming right after the last evaluated day, that is the row itself. Re-evaluating from
        an earlier day, it is rebuilt from the transitions before that day; `last_true_at` of a
        firing alert is found by re-judging the days before (at most `keep_firing_for` of them;
        their data did not change, or they would be re-evaluated too).
        """
        row = alert.alert_state()
        if resumed:
            return row, None
        stamp = self.clock.stamp
        since = stamp(start)
        earlier = [t for t in alert.transitions if t.at < since]
        if not earlier:
            return row, None
        firing = [t for t in earlier if t.to == "firing"]
        previous = start - timedelta(days=1)
        if earlier[-1].to != "firing" or not firing:  # pending then: the condition held
            finding = detect(series[rule.metric], rule, previous)
            state = AlertState(
                "pending", row.started_at, None, None, stamp(previous), row.acknowledged_at
            )
            return state, finding if finding.fired else None
        fired_at = firing[-1].at
        fired_day = closed_day(fired_at, self.clock.tz)
        day = previous
        floor = max(fired_day, previous - rule.keep_firing_for)
        last_true, cause = fired_day, None
        while day >= floor:
            finding = detect(series[rule.metric], rule, day)
            if finding.fired:
                last_true, cause = day, finding
                break
            day -= timedelta(days=1)
        state = AlertState(
            "firing", row.started_at, fired_at, None, stamp(last_true), row.acknowledged_at
        )
        return state, cause

    # --- shared ------------------------------------------------------------------------------

    def _series(
        self,
        province: str,
        rows: Sequence[DayRow],
        start: date,
        end: date,
        history_start: date | None,
    ) -> dict[Metric, Series]:
        """Daily series from `start` — or from where recorded history begins, if later: days
        before any data are unknown, not quiet, so no rule may read them as zeros."""
        if history_start is not None:
            start = min(max(start, history_start), end)
        metrics: set[Metric] = {r.metric for r in self.rules} | {"incidents", "killed", "injured"}
        return {m: daily_series(rows, province, m, start, end) for m in metrics}

    async def _write(
        self,
        tx: ProvinceTransaction,
        plans: Sequence[_RulePlan],
        progress: Mapping[str, Progress],
        through: date,
        outcome: Outcome,
        digests: Mapping[str, DataDigest | None] | None = None,
    ) -> None:
        """Write the plans and each rule's progress (with the digest of the counts read)."""
        now = self.clock.now()
        for rp in plans:
            withdrawals = await tx.apply(rp.rule, rp.plan, rp.stored, now)
            outcome.withdrawals.extend(withdrawals)
            outcome.written += sum(len(u.new) for u in rp.plan.updates) + sum(
                len(e.changes) for e in rp.plan.inserts
            )
            await tx.set_progress(
                rp.rule.name,
                self.clock.kind.value,
                self.hashes[rp.rule.name],
                through,
                now,
                exists=rp.rule.name in progress,
                digest=(digests or {}).get(rp.rule.name),
            )
        self.metrics.withdrawals.inc(sum(rp.plan.withdrawals for rp in plans))
        self.metrics.evaluations.labels(self.clock.kind.value).inc()

    def _observe(
        self,
        province: str,
        series: Mapping[Metric, Series],
        as_of: date,
        history_start: date | None,
        plans: Sequence[_RulePlan],
    ) -> None:
        """Set the province's gauges for the clock's day (called once the chunk reaches it)."""
        self._observed[province] = as_of
        m = self.metrics
        for window, days in WINDOWS.items():
            for name in ("incidents", "killed", "injured"):
                m.counts[name].labels(province, window).set(window_sum(series[name], as_of, days))
            expected = expected_incidents(series["incidents"], as_of, history_start)
            m.expected.labels(province, window).set(expected * days / 7)
        for rp in plans:
            latest = rp.replayed.latest
            score = latest.score if latest is not None and latest.score is not None else 0.0
            m.surge_score.labels(province, rp.rule.name).set(score)

    async def _observe_firing(self, tx: ProvinceTransaction, province: str) -> None:
        counts = await tx.firing_by_severity()
        for severity in ("info", "warning", "critical"):
            self.metrics.alerts_active.labels(province, severity).set(counts.get(severity, 0))

    async def _observe_idle(self, tx: ProvinceTransaction, province: str, as_of: date) -> None:
        """Nothing new to judge, but the gauges still follow the clock's day."""
        lo = as_of - timedelta(days=self.lookback)
        rows = await tx.counts(lo, as_of)
        history_start = await tx.history_start()
        series = self._series(province, rows, lo, as_of, history_start)
        self._observe(province, series, as_of, history_start, [])
        await self._observe_firing(tx, province)


def window_sum(series: Series, as_of: date, days: int) -> int:
    """The total of the `days` days ending at `as_of` (days outside the series count zero)."""
    end = series.index(as_of)
    lo = max(0, end - days + 1)
    if end < 0:
        return 0
    return int(series.values[lo : end + 1].sum())


def expected_incidents(series: Series, as_of: date, history_start: date | None) -> float:
    """Weekly mean over the 52 weeks before the 7-day window ending at `as_of`, clipped to the
    history on record; 0 with less than a week of it (the api's picture uses the same)."""
    last = as_of - timedelta(days=7)
    first = last - timedelta(days=7 * BASELINE_WEEKS - 1)
    if history_start is not None:
        first = max(first, history_start)
    span = (last - first).days + 1
    if span < 7:
        return 0.0
    lo, hi = series.index(first), series.index(last)
    total = int(series.values[max(0, lo) : max(0, hi + 1)].sum())
    return total / (span / 7)
