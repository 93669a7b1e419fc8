"""Every metric the ingest service exports (DESIGN.md "Metrics"), on one explicit registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.core.events import RejectReason

RESULTS = ("accepted", "duplicate", "updated", "retracted")


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "surgewatch_ingest_events",
            "Events handled by ingest, by result (and reason, for rejections).",
            ["result", "reason"],
            registry=r,
        )
        for result in RESULTS:
            self.events.labels(result, "")
        for reason in RejectReason:
            self.events.labels("rejected", reason.value)
        self.batch_size = Histogram(
            "surgewatch_ingest_batch_size",
            "Messages per committed batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "surgewatch_ingest_batch_seconds",
            "Time to parse, store and commit one batch.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.lag = Gauge(
            "surgewatch_ingest_lag_messages",
            "Messages in the log not yet stored, per partition (high-water mark minus position).",
            ["topic", "partition"],
            registry=r,
        )
        self.offset_resets = Counter(
            "surgewatch_ingest_offset_resets",
            "Partitions whose stored offset was beyond the log's end (a broker lost its data).",
            ["topic"],
            registry=r,
        )
        self.fenced = Counter(
            "surgewatch_ingest_fenced_batches",
            "Batches dropped because another consumer had already stored their offsets.",
            registry=r,
        )
        self.db_errors = Counter(
            "surgewatch_ingest_db_errors",
            "Failed batch transactions (each retried with backoff).",
            registry=r,
        )
        self.publish_errors = Counter(
            "surgewatch_ingest_publish_errors",
            "Notices or DLQ messages that could not be published after the DB commit.",
            ["topic"],
            registry=r,
        )
        self.dlq_ratio = Gauge(
            "surgewatch_ingest_dlq_ratio",
            "Share of rejected messages among the most recent ones (sliding window).",
            registry=r,
        )
        self.dlq_alarm = Gauge(
            "surgewatch_ingest_dlq_alarm",
            "1 while the rejected share is above SURGEWATCH_INGEST__DLQ_RATIO_ALARM.",
            registry=r,
        )
