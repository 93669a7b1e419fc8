"""The ingest consumer: Kafka `incidents` → `parse` → one DB transaction per batch → Kafka.

Order of a batch: fetch (bounded `getmany`) → parse every message (pure) → store incidents,
counts, rejections and offsets in one transaction → commit offsets to Kafka (for lag tools only;
the DB's offsets are the truth) → publish notices to `incidents.accepted` and rejects to
`incidents.dlq`. On every assignment the consumer seeks to the DB's offsets. A DB failure pauses
consumption and retries the same batch with backoff; nothing is committed past what the DB holds.

Two batches are in hand at a time: while batch N's transaction runs (PostgreSQL works in its own
process), batch N+1, already fetched, is parsed. Batches are still stored one at a time and in
order; a partition that is sought (assignment, lost log, fenced batch) gets a new epoch, and what
was fetched for it before is dropped, to be read again from where the seek put it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from services.core.cloudevents import HEADERS
from services.core.events import RawMessage, Rejection, RejectReason
from services.core.gazetteer import Gazetteer
from services.core.kafka import client_options, with_timeout
from services.core.notices import Notice
from services.core.parse import parse
from services.core.settings import Settings
from services.ingest.batches import Failure, Outgoing, publish_all
from services.ingest.metrics import IngestMetrics
from services.ingest.plan import Item, Plan, Rejected
from services.ingest.poison import as_rejection, refused_data, spans_of
from services.ingest.store import IngestStore, OffsetConflict, Span

log = logging.getLogger("surgewatch.ingest")

Clock = Callable[[], datetime]
DLQ_WINDOW = 1000
COMMIT_TIMEOUT_S = 5.0
# How long the broker may hold a fetch with nothing new. Some brokers (Tansu) hold it that long
# even when data arrives meanwhile: aiokafka's 500 ms default added ~115 ms to the median
# publish → API latency (bench/latency.py). Idle, this costs ten empty fetches a second.
FETCH_MAX_WAIT_MS = 100
PUBLISH_TIMEOUT_S = 30.0
DLQ_RELAY_EVERY_S = 30.0  # how often to look for rejections a crash left off the DLQ topic
DLQ_RELAY_AFTER = timedelta(seconds=60)  # older than any publish still in flight
# Messages parsed between yields to the event loop: a database reply waits at most one slice.
PARSE_SLICE = 250

Partition = tuple[str, int]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IngestConsumer(ConsumerRebalanceListener):
    """Runs until `stop()`; safe to kill at any instant (the DB transaction is the commit)."""

    def __init__(
        self,
        settings: Settings,
        store: IngestStore,
        producer: AIOKafkaProducer,
        metrics: IngestMetrics,
        gazetteer: Gazetteer,
        clock: Clock = _utcnow,
    ) -> None:
        self.settings = settings
        self.tuning = settings.ingest
        self.store = store
        self.producer = producer
        self.metrics = metrics
        self.gazetteer = gazetteer
        self.clock = clock
        self.topic = settings.topic_incidents
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=self.tuning.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.tuning.session_timeout_ms,
            heartbeat_interval_ms=self.tuning.heartbeat_interval_ms,
            # Bounded prefetch: what is fetched ahead sits in memory (bench/ingest_memory.py).
            max_partition_fetch_bytes=1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        self._stopping = asyncio.Event()
        self._positions: dict[TopicPartition, int] = {}  # next offset we will store
        self._epochs: dict[TopicPartition, int] = {}  # bumped on every seek
        self._forced: set[tuple[str, int]] = set()
        self._recent: deque[bool] = deque(maxlen=DLQ_WINDOW)
        self.db_ok = True
        self.running = False
        self.last_batch_at: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=self)

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Leave the group and flush what was published; the DB already has everything."""
        await with_timeout(self.consumer.stop(), 10, "consumer stop")

    async def run(self) -> None:
        self.running = True
        current: Prepared | None = None
        parsing: asyncio.Task[Prepared] | None = None
        announcing: asyncio.Task[None] | None = None
        try:
            relayed_at = 0.0
            while not self._stopping.is_set():
                if time.monotonic() - relayed_at > DLQ_RELAY_EVERY_S:
                    relayed_at = time.monotonic()
                    await self._safely(self.relay_dlq(), "DLQ relay")
                # With a batch in hand, take only what is already fetched: never make it wait.
                batch = await self._fetch(wait=current is None)
                if batch:
                    parsing = asyncio.create_task(self._prepare(batch, self._epochs_of(batch)))
                if current is not None:
                    stored = await self._store(current)
                    current = None  # let the stored batch go before the next one is parsed
                    if announcing is not None:
                        await announcing  # one batch's notices after the other's, in order
                        announcing = None
                    if stored is not None:
                        # Told while the next batch is stored: Python works as PostgreSQL does.
                        announcing = asyncio.create_task(self._announce(stored))
                current = await parsing if parsing is not None else None
                parsing = None
                self._update_lag()
        finally:
            self.running = False
            if parsing is not None:
                parsing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await parsing
            if announcing is not None:
                await announcing  # what the database holds is told (bounded by its timeouts)

    # --- rebalance ---------------------------------------------------------------------------

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        """Point `tp` at `offset`; what was fetched for it before is now stale (new epoch)."""
        self.consumer.seek(tp, offset)
        self._positions[tp] = offset
        self._epochs[tp] = self._epochs.get(tp, 0) + 1

    def _epochs_of(self, batch: dict[TopicPartition, list[Any]]) -> dict[Partition, int]:
        return {(tp.topic, tp.partition): self._epochs.get(tp, 0) for tp in batch}

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            if self._positions.pop(tp, None) is not None:
                self.metrics.lag.remove(tp.topic, str(tp.partition))
            self._forced.discard((tp.topic, tp.partition))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Seek every new partition to the DB's offset (the start of the log if it has none)."""
        # Nothing may be fetched for these partitions until they point at the DB's offsets.
        self.consumer.pause(*assigned)
        partitions = [tp.partition for tp in assigned]
        offsets = await self._retry_db(lambda: self.store.load_offsets(self.topic, partitions))
        if offsets is None:
            return  # stopping
        fresh = [tp for tp in assigned if tp.partition not in offsets]
        earliest = await self.consumer.beginning_offsets(fresh) if fresh else {}
        for tp in assigned:
            self._seek(tp, offsets.get(tp.partition, earliest.get(tp, 0)))
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(0)
        self.consumer.resume(*assigned)
        log.info(
            "partitions assigned",
            extra={"partitions": {tp.partition: self._positions[tp] for tp in assigned}},
        )

    # --- one batch ---------------------------------------------------------------------------

    async def _fetch(self, *, wait: bool = True) -> dict[TopicPartition, list[Any]]:
        batch = await self.consumer.getmany(
            timeout_ms=self.tuning.batch_timeout_ms if wait else 0,
            max_records=self.tuning.batch_max,
        )
        beyond = [
            tp
            for tp, position in self._positions.items()
            if tp not in batch
            and (hw := self.consumer.highwater(tp)) is not None
            and position > hw  # Tansu answers an out-of-range fetch with nothing: check here
        ]
        if beyond:
            await self._reset(beyond)
        return batch

    async def _reset(self, partitions: list[TopicPartition], *, seek: bool = True) -> None:
        """The log lost data we had stored: start again from its beginning, loudly.

        Tansu answers a fetch beyond the end with nothing (caught in `_fetch`); Apache Kafka
        resets the position to the earliest offset itself (auto_offset_reset), which the offset
        fence then catches (`_resolve_conflict`). Either way the partition is `forced` past the
        fence once; re-read incidents are recognised as duplicates, never counted twice.
        """
        earliest = await self.consumer.beginning_offsets(partitions) if seek and partitions else {}
        for tp in partitions:
            log.error(
                "stored offset is beyond the end of the log: the broker lost data; "
                "resuming from the earliest offset (duplicates are recognised, not re-counted)",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "stored_offset": self._positions.get(tp),
                    "log_end": self.consumer.highwater(tp),
                },
            )
            self.metrics.offset_resets.labels(tp.topic).inc()
            if seek:
                self._seek(tp, earliest.get(tp, 0))
            self._forced.add((tp.topic, tp.partition))

    async def _prepare(
        self, batch: dict[TopicPartition, list[Any]], epochs: dict[Partition, int]
    ) -> Prepared:
        """Parse a fetched batch (pure work), yielding to the event loop every `PARSE_SLICE`."""
        started = time.perf_counter()
        now = self.clock()
        gazetteer, limit = self.gazetteer, self.tuning.max_message_bytes
        items: list[Item] = []
        spans: dict[Partition, Span] = {}
        for tp, records in batch.items():
            if not records:
                continue
            for n, record in enumerate(records, 1):
                raw = _raw(record, tp)
                items.append(Item(raw, parse(raw, gazetteer, now, limit), record.key))
                if n % PARSE_SLICE == 0:
                    await asyncio.sleep(0)
            spans[(tp.topic, tp.partition)] = Span(records[0].offset, records[-1].offset)
        return Prepared(items, spans, epochs, now, started)

    async def _store(self, batch: Prepared) -> Announcement | None:
        """Store one parsed batch; what `_announce` needs after, or None if nothing was stored.

        Partitions sought or revoked since the batch was fetched are left out: their messages
        will be fetched again from where the seek put them (or by their new owner)."""
        batch = batch.current(
            {(tp.topic, tp.partition): self._epochs.get(tp, 0) for tp in self._positions}
        )
        plan = await self._write(batch.items, batch.spans, batch.now)
        if plan is None:
            return None
        self._after_commit(plan, batch.spans, batch.started)
        # Only what Kafka is told: the rows (and every incident's `data`) can go now.
        return Announcement(plan.notices, plan.rejections, batch.spans, batch.now)

    async def _announce(self, stored: Announcement) -> None:
        """Tell Kafka what a stored batch did: its offsets (for lag tools), its notices and
        rejections. Runs while the next batch is stored."""
        await self._commit_kafka(stored.spans)
        await self._publish(stored.notices, stored.rejections, stored.now)

    async def _write(
        self, items: list[Item], spans: dict[Partition, Span], now: datetime
    ) -> Plan | None:
        delay = self.tuning.retry_initial_s
        isolating = False
        while True:
            if not spans:
                return None
            forced = frozenset(self._forced & spans.keys())
            try:
                if isolating:
                    plan = await self._isolate(items, now, forced)
                else:
                    plan = await self.store.write(items, spans, now, forced)
            except OffsetConflict as conflict:
                lost = await self._resolve_conflict(conflict.partitions)
                items = [i for i in items if (i.message.topic, i.message.partition) not in lost]
                spans = {tp: s for tp, s in spans.items() if tp not in lost}
                continue
            except Exception as exc:
                if refused_data(exc) and not isolating:
                    log.error(
                        "the database refuses a message in this batch; isolating it",
                        extra={"error": repr(exc)[:300], "batch": len(items)},
                    )
                    isolating = True  # a message the DB refuses: find it, don't retry as is
                    continue
                # the DB is down or failing: keep the batch, retry
                if self._stopping.is_set():
                    log.warning("stopping with an unstored batch; it will be read again")
                    return None
                self.db_ok = False
                self.metrics.db_errors.inc()
                log.error(
                    "database write failed; pausing and retrying",
                    extra={"error": repr(exc), "retry_in_s": round(delay, 2)},
                )
                await self._idle(delay)
                delay = min(delay * 2, self.tuning.retry_max_s)
                continue
            if not self.db_ok:
                log.info("database write succeeded again; resuming")
            self.db_ok = True
            self._forced -= forced
            return plan

    async def _isolate(
        self, items: list[Item], now: datetime, forced: frozenset[tuple[str, int]]
    ) -> Plan:
        """Bisect a batch the database refuses until each refused message stands alone, then
        store those as rejections (DLQ, reason `schema`) and everything else as usual.

        The halves are written in offset order, each with its own offsets, so the fence still
        holds; a transient error part-way goes back to the retry loop, whose fence then tells
        what was already stored (`_resolve_conflict`) and those messages are read again.
        """
        plans: list[Plan] = []

        async def write(part: list[Item]) -> None:
            try:
                plans.append(await self.store.write(part, spans_of(part), now, forced))
            except Exception as exc:
                if not refused_data(exc):
                    raise
                if len(part) > 1:
                    middle = len(part) // 2
                    await write(part[:middle])
                    await write(part[middle:])
                    return
                [item] = part
                log.error("message refused by the database", extra={"offset": item.message.offset})
                try:
                    plans.append(
                        await self.store.write(
                            [as_rejection(item, exc)], spans_of(part), now, forced
                        )
                    )
                except Exception as again:
                    if not refused_data(again):
                        raise
                    bare = as_rejection(item, exc, keep_headers=False)
                    plans.append(await self.store.write([bare], spans_of(part), now, forced))

        await write(items)
        return Plan.combined(plans)

    async def _safely(self, work: Any, what: str) -> None:
        try:
            await work
        except Exception as exc:
            log.warning("%s failed", what, extra={"error": repr(exc)})

    async def _idle(self, seconds: float) -> None:
        """Wait without consuming, but keep polling so the group does not evict us."""
        assigned = self.consumer.assignment()
        self.consumer.pause(*assigned)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not self._stopping.is_set():
                await self._refresh_lag()
                wait = max(1, int(min(1.0, deadline - time.monotonic()) * 1000))
                await self.consumer.getmany(timeout_ms=wait)
        finally:
            self.consumer.resume(*self.consumer.assignment())

    async def _resolve_conflict(self, partitions: list[tuple[str, int]]) -> set[tuple[str, int]]:
        """Sort fenced partitions into a lost log (reset, keep the batch) and a zombie batch
        (another consumer stored it: seek to the DB's offset, drop the batch's messages)."""
        offsets = await self._retry_db(
            lambda: self.store.load_offsets(self.topic, [p for _, p in partitions])
        )
        dropped: set[tuple[str, int]] = set()
        for topic, partition in partitions:
            tp = TopicPartition(topic, partition)
            stored = (offsets or {}).get(partition)
            hw = self.consumer.highwater(tp)
            if stored is not None and hw is not None and stored > hw:
                await self._reset([tp], seek=False)
                continue
            dropped.add((topic, partition))
            self.metrics.fenced.inc()
            log.warning("batch fenced off: another consumer stored it", extra={"tp": str(tp)})
            if stored is not None and tp in self.consumer.assignment():
                self._seek(tp, stored)
        return dropped

    async def _retry_db(self, call: Callable[[], Any]) -> Any:
        delay = self.tuning.retry_initial_s
        while not self._stopping.is_set():
            try:
                result = await call()
                self.db_ok = True
                return result
            except Exception as exc:
                self.db_ok = False
                self.metrics.db_errors.inc()
                log.error("database unreachable", extra={"error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self.tuning.retry_max_s)
        return None

    def _after_commit(self, plan: Plan, spans: dict[Partition, Span], started: float) -> None:
        for (topic, partition), span in spans.items():
            self._positions[TopicPartition(topic, partition)] = span.last + 1
        counts: dict[tuple[str, str], int] = {}
        for outcome in plan.outcomes:
            counts[(outcome.result, outcome.reason)] = (
                counts.get((outcome.result, outcome.reason), 0) + 1
            )
            self._recent.append(outcome.result == "rejected")
        for (result, reason), n in counts.items():
            self.metrics.events.labels(result, reason).inc(n)
        self.metrics.batch_size.observe(len(plan.outcomes))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self._guard_dlq_ratio()
        self.last_batch_at = time.time()

    def _guard_dlq_ratio(self) -> None:
        """Arroyo's lesson: a stream that is mostly bad must alarm, not drain silently."""
        if len(self._recent) < min(100, DLQ_WINDOW):
            return
        ratio = sum(self._recent) / len(self._recent)
        self.metrics.dlq_ratio.set(ratio)
        alarm = ratio > self.tuning.dlq_ratio_alarm
        if alarm:
            log.error(
                "most recent messages are being rejected: check the publishers",
                extra={"rejected_share": round(ratio, 3), "window": len(self._recent)},
            )
        self.metrics.dlq_alarm.set(1 if alarm else 0)

    async def _commit_kafka(self, spans: dict[Partition, Span]) -> None:
        assigned = self.consumer.assignment()
        offsets = {
            TopicPartition(t, p): s.last + 1
            for (t, p), s in spans.items()
            if TopicPartition(t, p) in assigned
        }
        if offsets:
            await with_timeout(self.consumer.commit(offsets), COMMIT_TIMEOUT_S, "kafka commit")

    async def _publish(
        self, notices: list[Notice], rejections: list[Rejected], now: datetime
    ) -> None:
        if not notices and not rejections:
            return
        accepted, dlq = self.settings.topic_accepted, self.settings.topic_dlq
        # A generator: each notice is encoded as its batch takes it, never all at once.
        messages = itertools.chain(
            (
                Outgoing(accepted, notice.province.encode(), notice.encode(now), HEADERS)
                for notice in notices
            ),
            (
                Outgoing(
                    dlq, key, message.value, [*message.headers, *_error_headers(message, rejection)]
                )
                for message, rejection, key in rejections
            ),
        )
        failures = await publish_all(self.producer, messages, PUBLISH_TIMEOUT_S)
        self._count_failures(failures)
        if rejections and not any(f.topic == dlq for f in failures):
            positions = [(m.topic, m.partition, m.offset) for m, _, _ in rejections]
            await self._mark_published(positions)

    async def relay_dlq(self) -> int:
        """Publish rejections a crash left off the DLQ topic (the `rejections` outbox)."""
        dlq = self.settings.topic_dlq
        rows = await self.store.unpublished(self.clock() - DLQ_RELAY_AFTER)
        if not rows:
            return 0
        messages = [
            Outgoing(
                dlq,
                row.key,
                row.raw,
                [
                    *((k, v.encode()) for k, v in row.headers.items()),
                    *_error_headers(
                        RawMessage(row.raw, (), row.topic, row.partition, row.offset),
                        Rejection(RejectReason(row.reason), row.detail),
                    ),
                ],
            )
            for row in rows
        ]
        failures = await publish_all(self.producer, messages, PUBLISH_TIMEOUT_S)
        self._count_failures(failures)
        if failures:
            return 0
        await self._mark_published([(r.topic, r.partition, r.offset) for r in rows])
        log.warning("relayed rejections left off the DLQ topic", extra={"messages": len(rows)})
        return len(rows)

    async def _mark_published(self, positions: list[tuple[str, int, int]]) -> None:
        try:
            await self.store.mark_published(positions, self.clock())
        except Exception as exc:  # the relay will publish them again: a duplicate, not a loss
            log.warning("could not mark rejections published", extra={"error": repr(exc)})

    def _count_failures(self, failures: list[Failure]) -> None:
        for failure in failures:
            self.metrics.publish_errors.labels(failure.topic).inc(failure.count)
            log.warning(
                "publish failed",
                extra={
                    "topic": failure.topic,
                    "messages": failure.count,
                    "error": repr(failure.error),
                },
            )

    # --- observation -------------------------------------------------------------------------

    async def _refresh_lag(self) -> None:
        """Paused partitions are not fetched, so their high-water mark goes stale: ask the broker
        for the log end, or the lag gauge would stand still through a DB outage (and the
        lag alert with it). Tansu answers this request wrongly (too low); `max` copes."""
        ends: dict[TopicPartition, int] = {}
        with contextlib.suppress(Exception):
            ends = await asyncio.wait_for(self.consumer.end_offsets(list(self._positions)), 2)
        self._update_lag(ends)

    def _update_lag(self, ends: dict[TopicPartition, int] | None = None) -> None:
        for tp, position in self._positions.items():
            end = (ends or {}).get(tp)
            known = [e for e in (self.consumer.highwater(tp), end) if e is not None]
            if known:
                lag = max(0, max(known) - position)
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def health(self) -> tuple[bool, dict[str, Any]]:
        detail = {
            "consumer": "running" if self.running else "stopped",
            "database": "ok" if self.db_ok else "failing",
            "partitions": sorted(tp.partition for tp in self._positions),
        }
        return self.running, detail


@dataclass(frozen=True, slots=True)
class Announcement:
    """What Kafka is told about a batch once it is stored."""

    notices: list[Notice]
    rejections: list[Rejected]
    spans: dict[Partition, Span]
    now: datetime


@dataclass(frozen=True, slots=True)
class Prepared:
    """A fetched batch, parsed, with the epoch of each partition when it was fetched."""

    items: list[Item]
    spans: dict[Partition, Span]
    epochs: dict[Partition, int]
    now: datetime
    started: float

    def current(self, epochs: dict[Partition, int]) -> Prepared:
        """The batch without the partitions no longer assigned (absent from `epochs`) or sought
        since it was fetched (another epoch)."""
        live = {tp for tp, epoch in self.epochs.items() if epochs.get(tp) == epoch}
        if live >= self.spans.keys():
            return self
        return Prepared(
            [i for i in self.items if (i.message.topic, i.message.partition) in live],
            {tp: span for tp, span in self.spans.items() if tp in live},
            {tp: epoch for tp, epoch in self.epochs.items() if tp in live},
            self.now,
            self.started,
        )


def _raw(record: Any, tp: TopicPartition) -> RawMessage:
    headers = tuple(record.headers or ())
    return RawMessage(record.value, headers, tp.topic, tp.partition, record.offset)


def _error_headers(message: RawMessage, rejection: Rejection) -> list[tuple[str, bytes]]:
    return [
        ("error.reason", rejection.reason.value.encode()),
        ("error.detail", rejection.detail.encode("utf-8", "replace")[:4096]),
        ("source.topic", message.topic.encode()),
        ("source.partition", str(message.partition).encode()),
        ("source.offset", str(message.offset).encode()),
    ]
