"""Ingest throughput against its limits: raw COPY, raw Kafka reads, and a naive consumer.

All four read the same N synthetic events (published once to a private Tansu broker) and, where
they write, write to the same fresh PostgreSQL database:
- ingest: the real `IngestConsumer` (in-process, or `surgewatch ingest` as a subprocess with
  `--subprocess`), from start until the stored consumer offsets add up to N;
- (a) COPY: asyncpg `copy_records_to_table` of the same rows ingest writes for these events
  (incidents, their versions, the daily counts) into scratch tables of the same shapes, indexes
  included (rows built before the clock starts: this is the database's write ceiling). The COPY
  of the incidents rows alone is printed beside it, with its ratio, as the stricter reference;
- (b) Kafka: an aiokafka consumer reading the topic with `getmany` until N, no database;
- (c) naive: what a tutorial writes — one message, `json.loads`, one INSERT (autocommit), one
  Kafka commit per message — on the first `--naive` messages, its rate extrapolated.
(a) and (c) run before and after ingest and count at their mean (the machine's load moves).
Targets: ingest ≥ 50% of min(a, b) and ≥ 20× (c).

    python -m bench.ingest_throughput [--events 200k] [--naive 5000] [--subprocess]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.support import (
    Event,
    Timer,
    bench_settings,
    broker,
    emit,
    event_now,
    fresh_database,
    header,
    parse_size,
    poll_until,
    publish,
    rate,
    raw_url,
    settings_env,
    surgewatch_command,
    synthetic_events,
    wait_offsets,
    wait_process,
)
from services.core.broker import free_port
from services.core.db import make_engine
from services.core.events import Incident, RawMessage
from services.core.gazetteer import load_gazetteer
from services.core.kafka import client_options, ensure_topics, make_producer
from services.core.models import IncidentRow
from services.core.parse import parse
from services.core.settings import Settings
from services.ingest.__main__ import tune_gc
from services.ingest.consumer import IngestConsumer
from services.ingest.metrics import IngestMetrics
from services.ingest.store import IngestStore

NAME = "ingest_throughput"
TARGET_VS_LIMIT = 0.5
TARGET_VS_NAIVE = 20.0


@dataclass
class IngestRun:
    """Seconds from start, and from the moment the group assigned the partitions (the join is
    the broker's: Tansu answers JoinGroup after half the session timeout, 5 s by default)."""

    from_start: float
    from_assigned: float
    python_cpu_s: float | None = None  # the ingest process's CPU from assignment to done
    pg_cpu_s: float | None = None  # its PostgreSQL backends' CPU over the same span

    @property
    def join(self) -> float:
        return self.from_start - self.from_assigned


async def run_ingest_inprocess(settings: Settings, n: int, within_s: float) -> IngestRun:
    """The real consumer, wired as `surgewatch ingest` wires it, until `n` offsets are stored."""
    engine = make_engine(settings, writer=True)
    producer = make_producer(settings)
    watcher = await asyncpg.connect(raw_url(settings.database_url))
    await producer.start()
    consumer = IngestConsumer(
        settings,
        IngestStore(engine, settings.ingest.group_id),
        producer,
        IngestMetrics(),
        load_gazetteer(settings.gazetteer_file),
    )
    task: asyncio.Task[None] | None = None
    tune_gc()  # as `surgewatch ingest` does at start-up
    try:
        started = time.perf_counter()
        await consumer.start()
        task = asyncio.create_task(consumer.run())

        async def assigned() -> bool:
            return bool(consumer.health()[1]["partitions"])

        joined = await poll_until(assigned, within_s, "partition assignment")
        cpu, pg_cpu = time.process_time(), await backends_cpu(watcher)
        done = await wait_offsets(watcher, settings.ingest.group_id, n, within_s)
        cpu, pg_cpu = time.process_time() - cpu, await backends_cpu(watcher) - pg_cpu
        return IngestRun(done - started, done - joined, cpu, pg_cpu)
    finally:
        consumer.stop()
        if task is not None:
            await asyncio.wait_for(task, 60)
        await consumer.close()
        await producer.stop()
        await engine.dispose()
        await watcher.close()


async def backends_cpu(watcher: asyncpg.Connection) -> float:
    """CPU seconds used so far by the other PostgreSQL backends of the watcher's database."""
    pids = await watcher.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    total = 0.0
    for (pid,) in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


async def run_ingest_subprocess(settings: Settings, n: int, within_s: float) -> IngestRun:
    """`surgewatch ingest` as a process (imports included) until `n` offsets are stored."""
    watcher = await asyncpg.connect(raw_url(settings.database_url))
    port = free_port()
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *surgewatch_command("ingest"),
        env=settings_env(settings, SURGEWATCH_METRICS_PORT=str(port)),
    )
    try:
        async with httpx.AsyncClient(timeout=2) as http:

            async def assigned() -> bool:
                try:
                    health = await http.get(f"http://127.0.0.1:{port}/healthz")
                except httpx.TransportError:
                    return False
                return bool(health.json().get("partitions"))

            joined = await poll_until(assigned, within_s, "partition assignment")
        done = await wait_offsets(watcher, settings.ingest.group_id, n, within_s)
        return IngestRun(done - started, done - joined)
    finally:
        await wait_process(process)
        await watcher.close()


@dataclass
class CopyRows:
    """The rows ingest writes for the events, per table: (columns, rows)."""

    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]


async def run_copy(url: str, rows: CopyRows, run: int) -> dict[str, float]:
    """(a) Seconds to COPY each table's rows into a scratch table of that table's shape."""
    conn = await asyncpg.connect(raw_url(url))
    seconds: dict[str, float] = {}
    try:
        for table, (columns, records) in rows.tables.items():
            scratch = f"copy_{table}_{run}"
            await conn.execute(
                f"CREATE TABLE {scratch} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)"
            )
            with Timer() as timer:
                await conn.copy_records_to_table(scratch, records=records, columns=columns)
            seconds[table] = timer.seconds
        return seconds
    finally:
        await conn.close()


async def run_kafka(settings: Settings, n: int, batch_max: int) -> float:
    """(b) Seconds to read `n` messages with aiokafka `getmany`, nothing else."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    with Timer() as timer:
        await consumer.start()
        try:
            await consumer.topics()  # fetches the cluster's metadata
            parts = consumer.partitions_for_topic(settings.topic_incidents) or set()
            tps = [TopicPartition(settings.topic_incidents, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            seen = 0
            while seen < n:
                batch = await consumer.getmany(timeout_ms=200, max_records=batch_max)
                seen += sum(len(records) for records in batch.values())
        finally:
            await consumer.stop()
    return timer.seconds


NAIVE_INSERT = """
INSERT INTO {table} (source, id, version, occurred_at, day, province, district, lat, lon,
    category, target, perpetrator, killed, injured, summary, url, retracted, event_id,
    received_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, false, $17,
    now(), now())
ON CONFLICT DO NOTHING
"""


async def run_naive(settings: Settings, n: int, run: int) -> float:
    """(c) Seconds for the tutorial consumer to handle `n` messages (group join excluded)."""
    url = raw_url(settings.database_url)
    conn = await asyncpg.connect(url)
    table = f"naive_incidents_{run}"
    await conn.execute(
        f"CREATE TABLE {table} (LIKE incidents INCLUDING DEFAULTS INCLUDING INDEXES);"
        f"ALTER TABLE {table} ALTER COLUMN province TYPE text"
    )
    insert = NAIVE_INSERT.format(table=table)
    consumer = AIOKafkaConsumer(
        settings.topic_incidents,
        **client_options(settings),
        group_id=f"{settings.ingest.group_id}-naive-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    started: float | None = None
    count = 0
    try:
        async for message in consumer:
            if started is None:
                started = time.perf_counter()
            assert message.value is not None
            event = json.loads(message.value)
            data = event["data"]
            at = datetime.fromisoformat(data["occurred_at"])
            location = data.get("location") or {}
            await conn.execute(
                insert,
                event["source"],
                data["id"],
                data.get("version", 1),
                at,
                at.date(),
                data["province"],
                data.get("district"),
                location.get("lat"),
                location.get("lon"),
                data["category"],
                data.get("target"),
                data.get("perpetrator"),
                data.get("killed", 0),
                data.get("injured", 0),
                data.get("summary"),
                data.get("url"),
                event["id"],
            )
            await consumer.commit()
            count += 1
            if count >= n:
                break
    finally:
        await consumer.stop()
        await conn.close()
    assert started is not None
    return time.perf_counter() - started


def copy_rows(events: list[Event], settings: Settings, now: datetime) -> tuple[CopyRows, float]:
    """The rows ingest writes for `events` (each a new incident), and the seconds `parse` took."""
    gazetteer = load_gazetteer(settings.gazetteer_file)
    columns = [c.name for c in IncidentRow.__table__.columns]
    with Timer() as timer:
        parsed = [
            parse(RawMessage(e.value, (), "t", 0, i), gazetteer, now) for i, e in enumerate(events)
        ]
    incidents, versions = [], []
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for inc in parsed:
        assert isinstance(inc, Incident), inc
        row: dict[str, Any] = {
            **{name: getattr(inc, name, None) for name in columns},
            "category": inc.category.value,
            "target": inc.target.value if inc.target else None,
            "retracted": False,
            "received_at": now,
            "updated_at": now,
        }
        incidents.append(tuple(row[c] for c in columns))
        versions.append((inc.source, inc.id, inc.version, inc.event_id, now, inc.data))
        count = counts[(inc.province, inc.day, inc.subregion or "", inc.category.value)]
        count[0] += 1
        count[1] += inc.killed
        count[2] += inc.injured
    tables = {
        "incidents": (columns, incidents),
        "incident_versions": (
            ["source", "id", "version", "event_id", "received_at", "data"],
            versions,
        ),
        "daily_counts": (
            ["province", "day", "subregion", "category", "incidents", "killed", "injured"],
            [(*key, *value) for key, value in counts.items()],
        ),
    }
    return CopyRows(tables), timer.seconds


async def main(args: argparse.Namespace) -> None:
    n = args.events
    naive_n = min(args.naive, n)
    mode = "subprocess" if args.subprocess else "in-process"
    facts = header(NAME, events=n, naive=naive_n, batch_max=args.batch_max, ingest=mode)
    events = synthetic_events(n)
    now = event_now(events)
    with broker() as running:
        async with fresh_database() as url:
            settings = bench_settings(
                running.bootstrap,
                url,
                ingest={"group_id": f"bench-ingest-{time.time_ns()}", "batch_max": args.batch_max},
            )
            await ensure_topics(settings)
            publish_s = await publish(settings, events)
            print(f"   published {n} events in {publish_s:.1f}s ({rate(n, publish_s):,.0f}/s)")
            rows, parse_s = copy_rows(events, settings, now)
            del events
            # The baselines run before and after ingest, and count at their mean: the machine's
            # load moves during a run.
            kafka_s = await run_kafka(settings, n, args.batch_max)
            copies = [await run_copy(url, rows, 1)]
            naives = [await run_naive(settings, naive_n, 1)]
            timeout = max(120.0, n / 500)
            runner = run_ingest_subprocess if args.subprocess else run_ingest_inprocess
            ingest = await runner(settings, n, timeout)
            copies.append(await run_copy(url, rows, 2))
            naives.append(await run_naive(settings, naive_n, 2))
            del rows
    copy_s = {table: sum(c[table] for c in copies) / len(copies) for table in copies[0]}
    naive_s = sum(naives) / len(naives)
    ingest_s = ingest.from_assigned
    ingest_rate = rate(n, ingest_s)
    copy_rate = rate(n, sum(copy_s.values()))
    copy_incidents_rate = rate(n, copy_s["incidents"])
    kafka_rate = rate(n, kafka_s)
    naive_rate = rate(naive_n, naive_s)
    parse_rate = rate(n, parse_s)
    limit = min(copy_rate, kafka_rate)
    vs_limit = ingest_rate / limit
    vs_naive = ingest_rate / naive_rate
    print(
        f"   surgewatch ingest   {ingest_rate:>10,.0f} events/s  ({ingest_s:.2f}s for {n} after "
        f"the group join; {ingest.from_start:.2f}s from start, join {ingest.join:.2f}s)"
    )
    print(
        f"   (a) raw COPY        {copy_rate:>10,.0f} events/s  ({sum(copy_s.values()):.2f}s: "
        + ", ".join(f"{table} {seconds:.2f}s" for table, seconds in copy_s.items())
        + "; runs "
        + " and ".join(f"{rate(n, sum(c.values())):,.0f}" for c in copies)
        + ")"
    )
    print(
        f"       incidents alone {copy_incidents_rate:>10,.0f} rows/s    "
        f"(ingest / it = {ingest_rate / copy_incidents_rate:.2f})"
    )
    print(f"   (b) raw Kafka read  {kafka_rate:>10,.0f} msgs/s    ({kafka_s:.2f}s)")
    print(
        f"   (c) naive consumer  {naive_rate:>10,.0f} msgs/s    "
        f"({naive_s:.2f}s for {naive_n}, extrapolated to {n}: {n / naive_rate:.0f}s; runs "
        + " and ".join(f"{rate(naive_n, seconds):,.0f}" for seconds in naives)
        + ")"
    )
    print(f"   parse() alone       {parse_rate:>10,.0f} events/s  (one core, no I/O)")
    cpu = {}
    if ingest.python_cpu_s is not None and ingest.pg_cpu_s is not None:
        # CPU per event moves far less with the machine's load than rates do.
        cpu = {
            "python_cpu_us": round(ingest.python_cpu_s / n * 1e6, 1),
            "pg_cpu_us": round(ingest.pg_cpu_s / n * 1e6, 1),
        }
        print(
            f"   ingest CPU per event: Python {cpu['python_cpu_us']} µs, its PostgreSQL "
            f"backends {cpu['pg_cpu_us']} µs (wall {ingest_s / n * 1e6:.1f} µs)"
        )
    ok_limit = vs_limit >= TARGET_VS_LIMIT
    ok_naive = vs_naive >= TARGET_VS_NAIVE
    print(
        f"   ingest / min(a, b) = {vs_limit:.2f}  (target ≥ {TARGET_VS_LIMIT}: "
        f"{'met' if ok_limit else 'MISSED'})"
    )
    print(
        f"   ingest / naive     = {vs_naive:.1f}×  (target ≥ {TARGET_VS_NAIVE:.0f}×: "
        f"{'met' if ok_naive else 'MISSED'})"
    )
    emit(
        NAME,
        facts,
        events=n,
        mode=mode,
        batch_max=args.batch_max,
        ingest_eps=round(ingest_rate),
        ingest_eps_from_start=round(rate(n, ingest.from_start)),
        join_s=round(ingest.join, 2),
        copy_eps=round(copy_rate),
        copy_incidents_rps=round(copy_incidents_rate),
        ratio_vs_copy_incidents=round(ingest_rate / copy_incidents_rate, 3),
        kafka_mps=round(kafka_rate),
        naive_mps=round(naive_rate, 1),
        naive_events=naive_n,
        parse_eps=round(parse_rate),
        publish_mps=round(rate(n, publish_s)),
        ratio_vs_limit=round(vs_limit, 3),
        ratio_vs_naive=round(vs_naive, 1),
        target_met=ok_limit and ok_naive,
        **cpu,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_throughput", description=__doc__)
    parser.add_argument("--events", type=parse_size, default=200_000, help="default 200k")
    parser.add_argument("--naive", type=parse_size, default=5_000, help="naive consumer sample")
    parser.add_argument("--batch-max", type=int, default=5000, help="SURGEWATCH_INGEST__BATCH_MAX")
    parser.add_argument("--subprocess", action="store_true", help="run `surgewatch ingest`")
    return parser


if __name__ == "__main__":
    asyncio.run(main(build_parser().parse_args()))
