"""The alerts worker: notices and clock ticks in → evaluations → transitions out.

One loop, one thing at a time: fetch notices (bounded `getmany`) → note what changed → on a
clock tick, wake the owned provinces → reconcile (event time: on every tick and for newly owned
provinces, compare the stored counts with the digests of those the histories were evaluated on;
a change whose notice was lost, or that was made while alerts was stopped, makes its province
due from the earliest changed block) → evaluate the provinces that are due (each one its own DB
transaction, see `Evaluator`) → relay stored transitions to the `alerts` topic (outbox) →
commit to Kafka the offsets of the notices whose evaluations have committed.

Kafka offsets here only mark which notices were acted on: the DB holds the alert state and the
evaluation progress, and on every assignment the newly owned provinces are evaluated from their
stored progress, so a crash at any instant loses nothing and duplicates no transition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from services.alerts.clock import AlertClock, local_day
from services.alerts.digest import block_of
from services.alerts.evaluator import Evaluator, Outcome
from services.alerts.events import transition_event, withdrawal_event
from services.alerts.metrics import AlertsMetrics
from services.alerts.ownership import owned
from services.alerts.store import AlertStore
from services.alerts.triggers import Due, Triggers
from services.core.kafka import client_options, with_timeout
from services.core.notices import Notice
from services.core.settings import Clock, Settings

log = logging.getLogger("surgewatch.alerts")

COMMIT_TIMEOUT_S = 5.0
PUBLISH_TIMEOUT_S = 30.0
RELAY_INTERVAL_S = 1.0  # how soon an acknowledgement written by the api reaches the topic
RELAY_BATCH = 500
RELAY_MAX_BATCHES = 20  # per call, so evaluations are not starved by a large backlog
MAX_WAIT_S = 0.5  # longest fetch, so a stop request is noticed quickly
FETCH_MAX_WAIT_MS = 50  # a broker may hold a fetch this long even once a notice is there
RETRY_S = (0.5, 30.0)  # evaluation retry backoff after a DB failure: first, max


class AlertsWorker(ConsumerRebalanceListener):
    """Runs until `stop()`; safe to kill at any instant (each evaluation is one transaction)."""

    def __init__(
        self,
        settings: Settings,
        evaluator: Evaluator,
        store: AlertStore,
        producer: AIOKafkaProducer,
        metrics: AlertsMetrics,
        provinces: Iterable[str],
    ) -> None:
        self.settings = settings
        self.tuning = settings.alerts
        self.evaluator = evaluator
        self.clock: AlertClock = evaluator.clock
        self.store = store
        self.producer = producer
        self.metrics = metrics
        self.topic = settings.topic_accepted
        self.known: set[str] = set(provinces)
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=self.tuning.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # notices are triggers: re-reading one is harmless
            session_timeout_ms=self.tuning.session_timeout_ms,
            heartbeat_interval_ms=self.tuning.heartbeat_interval_ms,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        self.triggers = Triggers(self.tuning.debounce_ms / 1000)
        self.owned: set[str] = set()
        self._assigned: set[int] = set()
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self._committed: dict[TopicPartition, int] = {}
        self._busy = asyncio.Lock()  # held while evaluating; a revocation waits for it
        self._in_flight: Due | None = None
        self._stopping = asyncio.Event()
        self._retry_s = RETRY_S[0]
        self._next_tick = 0.0
        self._next_relay = 0.0
        self._unreconciled: set[str] = set()  # owned provinces to compare with the DB's counts
        self._next_reconcile = 0.0
        self.running = False
        self.db_ok = True
        self.evaluated: list[Outcome] = []  # the most recent outcomes (for tests and logs)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=self)

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Relay what is stored, commit what was acted on, and leave the group."""
        await with_timeout(self.relay(), PUBLISH_TIMEOUT_S, "final relay")
        await self._commit()
        await with_timeout(self.consumer.stop(), 10, "consumer stop")

    async def run(self) -> None:
        self.running = True
        try:
            await self._init_clock()
            self._next_tick = time.monotonic() + self.tuning.tick_s
            while not self._stopping.is_set():
                batch = await self._fetch()
                self._take(batch)
                now = time.monotonic()
                if now >= self._next_tick:
                    await self.tick()
                    self._next_tick = now + self.tuning.tick_s
                await self.reconcile()
                await self._evaluate_due()
                if time.monotonic() >= self._next_relay:
                    await self.relay()
                await self._commit()
        finally:
            self.running = False

    async def _init_clock(self) -> None:
        """Event time starts at the newest day stored (or already evaluated): never earlier."""
        if self.clock.kind != Clock.event_time:
            return
        while not self._stopping.is_set():
            try:
                newest = await self.store.newest_day()
                evaluated = await self.store.newest_progress(Clock.event_time.value)
                break
            except Exception as exc:
                self._db_failed(exc, "reading the event-time clock")
                await self._sleep(self._retry_s)
        else:
            return
        for day in (newest, evaluated):
            if day is not None:
                self.clock.observe(day)
        self._observe_as_of()

    # --- rebalance ---------------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Finish the evaluation in hand, commit what was acted on, let the provinces go."""
        async with self._busy:
            await self._commit()
            for tp in revoked:
                self._positions.pop(tp, None)
                self._committed.pop(tp, None)
                self._assigned.discard(tp.partition)
            lost = self.owned - self._owned_now()
            self.owned -= lost
            self._unreconciled -= lost
            self.triggers.drop(lost)
            for province in lost:
                self.evaluator.forget(province)
        if lost:
            log.info("provinces released", extra={"provinces": sorted(lost)})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Own the provinces of the new partitions and evaluate them from their progress."""
        for tp in assigned:
            self._assigned.add(tp.partition)
            self._positions.pop(tp, None)
        gained = self._owned_now() - self.owned
        self.owned |= gained
        if self.clock.kind == Clock.event_time:  # changed while nobody watched: check first
            self._unreconciled |= gained
        self.triggers.wake(gained, time.monotonic())
        self._next_relay = 0.0
        log.info(
            "partitions assigned",
            extra={
                "partitions": sorted(self._assigned),
                "provinces": sorted(self.owned),
            },
        )

    def _owned_now(self) -> set[str]:
        count = len(self.consumer.partitions_for_topic(self.topic) or ())
        if not count:  # no metadata yet: the partition count we create topics with
            count = self.settings.topic_partitions
            log.warning("no partition metadata for %s; assuming %d", self.topic, count)
        return owned(self.known, self._assigned, count)

    # --- notices -----------------------------------------------------------------------------

    async def _fetch(self) -> dict[TopicPartition, list[Any]]:
        now = time.monotonic()
        due = self.triggers.next_at()
        deadline = min(self._next_tick, self._next_relay, due if due is not None else now + 1)
        wait = max(0.0, min(MAX_WAIT_S, deadline - now))
        batch: dict[TopicPartition, list[Any]] = await self.consumer.getmany(
            timeout_ms=max(1, int(wait * 1000)), max_records=1000
        )
        return batch

    def _take(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Note the notices of a fetched batch: debounced triggers, and the event clock."""
        now = time.monotonic()
        advanced = False
        for tp, records in batch.items():
            for record in records:
                notice = self._decode(record, tp)
                if notice is not None:
                    advanced |= self._note(notice, tp, record.offset, now)
            if records:
                self._positions[tp] = records[-1].offset + 1
        if advanced:  # every owned province must cross the new days too (debounced)
            self.triggers.wake(self.owned, now + self.triggers.debounce_s)
            self._observe_as_of()

    def _decode(self, record: Any, tp: TopicPartition) -> Notice | None:
        try:
            return Notice.decode(record.value)
        except Exception as exc:  # a notice is a trigger: a bad one is logged and skipped
            self.metrics.errors.labels("notice").inc()
            log.error(
                "unreadable notice skipped",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": record.offset,
                    "error": repr(exc),
                },
            )
            return None

    def _note(self, notice: Notice, tp: TopicPartition, offset: int, now: float) -> bool:
        province = notice.province
        if province not in self.known:
            self.known.add(province)
            log.warning("notice for a province not in the gazetteer", extra={"province": province})
        if tp.partition in self._assigned:
            self.owned.add(province)  # its notices are ours: so is the province
        changed = min(notice.days) if notice.days else None
        self.triggers.notice(province, changed, tp, offset, now)
        newest = [local_day(notice.occurred_at, self.clock.tz), *notice.days]
        return self.clock.observe(max(newest))

    # --- clock ---------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Live: judge every owned province now (day rollover, `for`, `keep_firing_for`; a past
        day counts only through today's windows, which judging today reads).
        Event time: pick up days stored without a notice reaching us, and cross them; and have
        every owned province reconciled with the stored counts (past days changed unnoticed)."""
        if self.clock.kind == Clock.event_time:
            self._unreconciled |= self.owned
            try:
                newest = await self.store.newest_day()
            except Exception as exc:
                self._db_failed(exc, "reading the newest day")
                return
            if newest is None or not self.clock.observe(newest):
                return
        self._observe_as_of()
        self.triggers.wake(self.owned, time.monotonic())

    async def reconcile(self) -> int:
        """Event time: make due, from the earliest changed block, each flagged province whose
        stored counts differ from those its history was evaluated on; return how many had no
        notice pending for the change. On a DB failure the flags stay, retried with backoff."""
        if self.clock.kind != Clock.event_time or self._stopping.is_set():
            return 0
        self._unreconciled &= self.owned
        provinces = set(self._unreconciled)
        if not provinces or time.monotonic() < self._next_reconcile:
            return 0
        try:
            changed = await self.evaluator.changed_days(provinces)
        except Exception as exc:
            self._db_failed(exc, "reconciling with the stored counts")
            self.metrics.errors.labels("reconcile").inc()
            self._next_reconcile = time.monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, RETRY_S[1])
            return 0
        self._db_ok()
        self._next_reconcile = 0.0
        self._unreconciled -= provinces
        now = time.monotonic()
        unnoticed = []
        for province, day in sorted(changed.items()):
            if province not in self.owned:
                continue  # revoked while we read: its new owner reconciles it
            pending = self.triggers.changed_from(province)
            if pending is None or block_of(pending) > block_of(day):
                unnoticed.append((province, day))
            self.triggers.changed(province, day, now)
        if unnoticed:
            self.metrics.reconciled.inc(len(unnoticed))
            log.warning(
                "stored counts changed without a notice; re-evaluating",
                extra={"changes": {p: d.isoformat() for p, d in unnoticed}},
            )
        return len(unnoticed)

    def _observe_as_of(self) -> None:
        as_of = self.clock.as_of()
        if as_of is not None:
            start = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
            self.metrics.as_of.set(start.timestamp())

    # --- evaluation --------------------------------------------------------------------------

    async def _evaluate_due(self) -> None:
        for due in self.triggers.pop_due(time.monotonic()):
            if self._stopping.is_set():
                self.triggers.restore(due, due.at)
                continue
            if due.province not in self.owned:
                continue  # revoked meanwhile: its new owner evaluates it
            await self.evaluate(due)

    async def evaluate(self, due: Due) -> Outcome | None:
        """Evaluate one province; on failure put it back to retry (its notices stay held)."""
        async with self._busy:
            self._in_flight = due
            try:
                outcome = await self.evaluator.evaluate(
                    due.province, due.changed_from, self._stopping.is_set
                )
            except Exception as exc:
                self._db_failed(exc, f"evaluating {due.province}")
                self.metrics.errors.labels("evaluate").inc()
                self.triggers.restore(due, time.monotonic() + self._retry_s)
                self._retry_s = min(self._retry_s * 2, RETRY_S[1])
                return None
            finally:
                self._in_flight = None
        self._db_ok()
        self._retry_s = RETRY_S[0]
        if not outcome.complete:  # stopped midway: the rest is resumed from the progress
            self.triggers.restore(Due(due.province, None, 0.0, due.offsets), time.monotonic())
        self.evaluated = [*self.evaluated[-99:], outcome]
        if outcome.written or outcome.withdrawals:
            log.info(
                "evaluated",
                extra={
                    "province": outcome.province,
                    "as_of": str(outcome.as_of),
                    "days": outcome.days,
                    "transitions": outcome.written,
                    "withdrawn": len(outcome.withdrawals),
                },
            )
            self._next_relay = 0.0
        await self._announce(outcome)
        return outcome

    async def _announce(self, outcome: Outcome) -> None:
        """Withdrawals are announced straight after the commit (best effort: the DB is right)."""
        for withdrawal in outcome.withdrawals:
            try:
                await asyncio.wait_for(
                    self._send(withdrawal.province, withdrawal_event(withdrawal)),
                    PUBLISH_TIMEOUT_S,
                )
            except Exception as exc:
                self.metrics.errors.labels("publish").inc()
                log.warning("withdrawal not published", extra={"error": repr(exc)})

    # --- outbox ------------------------------------------------------------------------------

    async def relay(self) -> int:
        """Publish the owned provinces' unpublished transitions, oldest first; mark them sent."""
        self._next_relay = time.monotonic() + RELAY_INTERVAL_S
        sent = 0
        for _ in range(RELAY_MAX_BATCHES):
            try:
                batch = await self.store.unpublished(self.owned, RELAY_BATCH)
            except Exception as exc:
                self._db_failed(exc, "reading unpublished transitions")
                return sent
            if not batch:
                return sent
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self._send(t.province, transition_event(t)) for t in batch)),
                    PUBLISH_TIMEOUT_S,
                )
            except Exception as exc:
                self.metrics.errors.labels("publish").inc()
                log.warning("transitions not published; will retry", extra={"error": repr(exc)})
                return sent
            try:
                await self.store.mark_published([t.seq for t in batch], datetime.now(UTC))
            except Exception as exc:  # they will be sent again: consumers dedupe on the event id
                self._db_failed(exc, "marking transitions published")
                return sent
            for t in batch:
                self.metrics.transitions.labels(t.to_state).inc()
            sent += len(batch)
            if len(batch) < RELAY_BATCH:
                break
        return sent

    async def _send(self, province: str, value: bytes) -> None:
        future = await self.producer.send(
            self.settings.topic_alerts,
            value=value,
            key=province.encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
        await future

    # --- Kafka offsets -----------------------------------------------------------------------

    def acted_on(self) -> dict[TopicPartition, int]:
        """Per partition: the offset before which every notice has been read and the
        evaluation it triggered has committed (what may be committed to Kafka)."""
        offsets = self.triggers.committable(self._positions)
        if self._in_flight is not None:
            for tp, offset in self._in_flight.offsets.items():
                if tp in offsets:
                    offsets[tp] = min(offsets[tp], offset)
        return offsets

    async def _commit(self) -> None:
        assigned = self.consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in self.acted_on().items()
            if tp in assigned and self._committed.get(tp) != offset
        }
        if offsets and await with_timeout(
            self.consumer.commit(offsets), COMMIT_TIMEOUT_S, "kafka commit"
        ):
            self._committed.update(offsets)

    # --- health ------------------------------------------------------------------------------

    def _db_failed(self, exc: Exception, what: str) -> None:
        self.db_ok = False
        log.error("database failure %s; will retry", what, extra={"error": repr(exc)})

    def _db_ok(self) -> None:
        if not self.db_ok:
            log.info("database reachable again")
        self.db_ok = True

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def health(self) -> tuple[bool, dict[str, Any]]:
        as_of: date | None = self.clock.as_of()
        detail = {
            "consumer": "running" if self.running else "stopped",
            "database": "ok" if self.db_ok else "failing",
            "clock": self.clock.kind.value,
            "as_of": as_of.isoformat() if as_of else None,
            "partitions": sorted(self._assigned),
            "provinces": sorted(self.owned),
        }
        return self.running, detail
