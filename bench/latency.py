"""End-to-end latency: publish at a fixed rate, time until the API shows each event.

`surgewatch ingest`, `surgewatch api` and `surgewatch alerts` run as subprocesses on a private
broker and a fresh PostgreSQL database, as deployed. This process publishes `--rate` events/s
(default 1,000) for `--seconds` (default 60), each occurring "now", and polls the API with
httpx at `--poll-hz` (default 20):
- GET /v1/incidents?since=… (newest first, following `next_cursor`): an event is visible when
  its id is listed;
- GET /v1/picture: the k-th event of a province is counted when that province's incidents_7d
  reaches k (counts, not ids: the picture has no ids);
- the baseline, measured in the same run: an aiokafka consumer reading the topic directly (the
  broker's own publish → fetch latency).
Latency = when the poll's response arrived minus when the event was handed to the producer
(conservative: up to one poll period is the poller's). Target: p99 ≤ 500 ms. Beside it, the share
of a core each service used while the events flowed (what keeping up costs).

    python -m bench.latency [--seconds 60] [--rate 1000] [--poll-hz 20] [--no-alerts]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.support import (
    Service,
    bench_settings,
    broker,
    emit,
    fresh_database,
    header,
    load,
    percentile,
    start_service,
    wait_process,
    wait_ready,
)
from services.core.kafka import client_options, ensure_topics, make_producer
from services.core.settings import Settings

NAME = "latency"
TARGET_P99_MS = 500.0
SOURCE = "bench/latency"
DRAIN_S = 30.0
# Tansu does not answer a waiting fetch when data arrives: it holds it for fetch_max_wait_ms
# (aiokafka's default 500 ms added ~115 ms to the median). The baseline polls briskly instead.
FETCH_WAIT_MS = 20
SHARES = {"PK-KP": 0.6, "PK-BA": 0.26, "PK-SD": 0.08, "PK-PB": 0.03, "PK-IS": 0.01,
          "PK-JK": 0.01, "PK-GB": 0.01}  # fmt: skip


@dataclass
class Sent:
    at: float  # perf_counter() when handed to the producer
    wall: datetime
    province: str


@dataclass
class Tracker:
    """Publish times, and when each path first showed each event."""

    sent: dict[str, Sent] = field(default_factory=dict)
    by_province: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[str, dict[str, float]] = field(
        default_factory=lambda: {"kafka": {}, "incidents": {}, "picture": {}}
    )
    counted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    publishing: bool = True

    def latencies_ms(self, path: str) -> list[float]:
        seen = self.seen[path]
        return [1000 * (seen[i] - s.at) for i, s in self.sent.items() if i in seen]

    def missing(self, path: str) -> int:
        return len(self.sent) - len(self.seen[path])


def event(i: int, province: str, wall: datetime) -> tuple[str, bytes, bytes]:
    incident_id = f"lat-{i}"
    envelope = {
        "specversion": "1.0",
        "id": f"{SOURCE}/{incident_id}",
        "source": SOURCE,
        "type": "incident.reported",
        "datacontenttype": "application/json",
        "data": {
            "id": incident_id,
            "occurred_at": wall.isoformat().replace("+00:00", "Z"),
            "province": province,
            "category": "armed_assault",
            "killed": 1,
            "summary": "latency probe",
        },
    }
    return incident_id, f"{SOURCE}\x1f{incident_id}".encode(), orjson.dumps(envelope)


async def publisher(settings: Settings, tracker: Tracker, rate: float, seconds: float) -> None:
    """`rate` events a second, topped up every 10 ms, for `seconds`."""
    rng = random.Random(5)
    provinces, weights = list(SHARES), list(SHARES.values())
    producer = make_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        i = 0
        pending = []
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate)
            while i < due:
                province = rng.choices(provinces, weights)[0]
                wall = datetime.now(UTC)
                incident_id, key, value = event(i, province, wall)
                tracker.sent[incident_id] = Sent(time.perf_counter(), wall, province)
                tracker.by_province[province].append(incident_id)
                pending.append(await producer.send(settings.topic_incidents, value, key=key))
                i += 1
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
        tracker.publishing = False


async def kafka_reader(settings: Settings, tracker: Tracker) -> None:
    """The baseline: when a plain consumer of the topic first receives each event."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic(settings.topic_incidents) or set()
        tps = [TopicPartition(settings.topic_incidents, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = tracker.seen["kafka"]
        while tracker.publishing or len(seen) < len(tracker.sent):
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    if record.key is not None:
                        seen.setdefault(record.key.decode().split("\x1f", 1)[1], now)
    finally:
        await consumer.stop()


async def incidents_poller(http: httpx.AsyncClient, tracker: Tracker, period: float) -> None:
    """Poll /v1/incidents from just before the oldest unseen event (newest first, paged)."""
    seen = tracker.seen["incidents"]
    while tracker.publishing or len(seen) < len(tracker.sent):
        tick = time.perf_counter()
        unseen = [
            s.wall for i, s in tracker.sent.items() if i not in seen and tick - s.at < DRAIN_S
        ]
        if unseen:
            since = min(unseen).isoformat().replace("+00:00", "Z")
            params: dict[str, Any] = {"since": since, "limit": 500}
            while True:
                reply = await http.get("/v1/incidents", params=params)
                reply.raise_for_status()
                now = time.perf_counter()
                tracker.polls["incidents"] += 1
                page = reply.json()
                for item in page["items"]:
                    if item["source"] == SOURCE:
                        seen.setdefault(item["id"], now)
                if not page["next_cursor"]:
                    break
                params = {"since": since, "limit": 500, "cursor": page["next_cursor"]}
        elif not tracker.publishing:
            return  # everything unseen is older than DRAIN_S: lost
        await asyncio.sleep(max(0.0, period - (time.perf_counter() - tick)))


async def picture_poller(http: httpx.AsyncClient, tracker: Tracker, period: float) -> None:
    """Poll /v1/picture; the first k events of a province are shown once its 7-day count is k."""
    seen = tracker.seen["picture"]
    deadline: float | None = None
    while tracker.publishing or len(seen) < len(tracker.sent):
        tick = time.perf_counter()
        if not tracker.publishing:
            deadline = deadline or tick + DRAIN_S
            if tick > deadline:
                return
        reply = await http.get("/v1/picture")
        reply.raise_for_status()
        now = time.perf_counter()
        tracker.polls["picture"] += 1
        for province in reply.json()["provinces"]:
            code = province["code"]
            count = min(int(province["incidents_7d"]), len(tracker.by_province[code]))
            for incident_id in tracker.by_province[code][tracker.counted[code] : count]:
                seen.setdefault(incident_id, now)
            tracker.counted[code] = max(tracker.counted[code], count)
        await asyncio.sleep(max(0.0, period - (time.perf_counter() - tick)))


async def batch_stats(ingest: Service) -> dict[str, float]:
    """Mean size and duration of the ingest's batches, from its /metrics histograms."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{ingest.url}/metrics")).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (
            "surgewatch_ingest_batch_size_sum",
            "surgewatch_ingest_batch_size_count",
            "surgewatch_ingest_batch_seconds_sum",
        ):
            values[name] = float(value)
    count = values.get("surgewatch_ingest_batch_size_count", 0.0)
    return {
        "batches": count,
        "mean_size": round(values.get("surgewatch_ingest_batch_size_sum", 0.0) / count, 1)
        if count
        else 0.0,
        "mean_ms": round(1000 * values.get("surgewatch_ingest_batch_seconds_sum", 0.0) / count, 1)
        if count
        else 0.0,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values, default=float("nan")), 1),
    }


async def main(args: argparse.Namespace) -> None:
    facts = header(
        NAME, seconds=args.seconds, rate=args.rate, poll_hz=args.poll_hz, alerts=not args.no_alerts
    )
    tracker = Tracker()
    period = 1 / args.poll_hz
    with broker() as running:
        async with fresh_database() as url:
            settings = bench_settings(running.bootstrap, url)
            await ensure_topics(settings)
            commands = ["ingest", "api"] + ([] if args.no_alerts else ["alerts"])
            services: list[Service] = []
            try:
                for command in commands:
                    services.append(await start_service(settings, command))
                for service in services:
                    await wait_ready(service)
                api = next(s for s in services if s.name == "api")
                print(f"   services ready ({', '.join(commands)}); load {load()}")
                cpu, wall = time.process_time(), time.perf_counter()
                used = {s.name: cpu_seconds(s.process.pid) for s in services}
                async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                    await asyncio.gather(
                        publisher(settings, tracker, args.rate, args.seconds),
                        kafka_reader(settings, tracker),
                        incidents_poller(http, tracker, period),
                        picture_poller(http, tracker, period),
                    )
                elapsed = time.perf_counter() - wall
                harness = (time.process_time() - cpu) / elapsed
                service_cpu = {
                    s.name: round((cpu_seconds(s.process.pid) - used[s.name]) / elapsed, 3)
                    for s in services
                }
                ingest = next(s for s in services if s.name == "ingest")
                batches = await batch_stats(ingest)
            finally:
                for service in services:
                    await wait_process(service.process)
    figures = {path: summary(tracker.latencies_ms(path)) for path in tracker.seen}
    for path, label in (
        ("kafka", "raw Kafka consumer (baseline)"),
        ("incidents", "GET /v1/incidents"),
        ("picture", "GET /v1/picture count"),
    ):
        f = figures[path]
        print(
            f"   {label:32s} p50 {f['p50_ms']:7.1f} ms  p99 {f['p99_ms']:7.1f} ms  "
            f"max {f['max_ms']:7.1f} ms  missing {tracker.missing(path)}"
        )
    sent = len(tracker.sent)
    print(
        f"   ingest batches: {batches['batches']:.0f}, mean {batches['mean_size']:.0f} events, "
        f"mean {batches['mean_ms']:.1f} ms each; this process used {harness:.0%} of a core"
    )
    shares = ", ".join(f"{name} {share:.0%}" for name, share in service_cpu.items())
    print(f"   CPU during the run (share of a core): {shares}")
    print(
        f"   {sent} events in {args.seconds}s ({sent / args.seconds:.0f}/s); polls: "
        f"{dict(tracker.polls)}"
    )
    worst = max(figures["incidents"]["p99_ms"], figures["picture"]["p99_ms"])
    missing = tracker.missing("incidents") + tracker.missing("picture")
    met = worst <= TARGET_P99_MS and missing == 0
    verdict = "met" if met else "MISSED"
    print(f"   worst p99 {worst:.0f} ms (target ≤ {TARGET_P99_MS:.0f} ms: {verdict})")
    baseline = figures["kafka"]["p99_ms"]
    emit(
        NAME,
        facts,
        seconds=args.seconds,
        rate=args.rate,
        events=sent,
        poll_hz=args.poll_hz,
        alerts=not args.no_alerts,
        latency=figures,
        missing={path: tracker.missing(path) for path in tracker.seen},
        ingest_batches=batches,
        harness_cpu=round(harness, 2),
        service_cpu=service_cpu,
        ratio_p99_vs_kafka=round(worst / baseline, 1) if baseline > 0 else None,
        target_p99_ms=TARGET_P99_MS,
        target_met=met,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--poll-hz", type=float, default=20.0)
    parser.add_argument("--no-alerts", action="store_true", help="run ingest and api only")
    return parser


if __name__ == "__main__":
    asyncio.run(main(build_parser().parse_args()))
