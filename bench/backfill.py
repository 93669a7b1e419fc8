"""Backfill: how long until a replayed history has its complete alert history (event time).

1. Speed: `--events` synthetic incidents (default 1M) spread over `--days` (default 3,650) up
   to 2024-12-31 are published in occurrence order first (a backlog, as a replay leaves it); then
   `surgewatch ingest` and `surgewatch alerts` (SURGEWATCH_CLOCK=event_time) start, and the
   clock runs until every event is stored and every province × rule is evaluated through the
   newest day (`alert_progress`). Reported in minutes and events/s.
2. Same history at any speed: the demo feed (2022–2024, ~1,650 events with surges, corrections
   and a retraction) replayed into two fresh stacks with `surgewatch replay --demo`'s code, once
   at full speed and once paced at `--slow-rate` events/s, while the services run. The alert
   histories (every alert and every transition with its event-time stamp) must be identical.
   1M events paced slowly would take hours, hence the demo feed for this half.

    python -m bench.backfill [--events 1M] [--days 3650] [--slow-rate 50] [--skip-compare]
                             [--compare-events N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.support import (
    Event,
    Service,
    bench_settings,
    broker,
    emit,
    fresh_database,
    header,
    load,
    offsets_sum,
    parse_size,
    poll_until,
    publish,
    rate,
    raw_url,
    start_service,
    synthetic_events,
    wait_process,
    wait_ready,
)
from services.alerts.rules import load_rules
from services.core.kafka import client_options, ensure_topics, make_producer
from services.core.settings import Settings
from services.feeds.replay import demo_items, replay

NAME = "backfill"
END = date(2024, 12, 31)
CHUNK = 50_000
DEMO_SEED = 2024  # `surgewatch replay --demo`'s

History = list[tuple[Any, ...]]


def stream(n: int, days: int) -> Iterator[list[Event]]:
    """`n` events in occurrence order over `days` up to END, in chunks of ≤ CHUNK (each chunk
    a slice of the period: the whole million never sits in memory)."""
    start = END - timedelta(days=days - 1)
    chunks = max(1, -(-n // CHUNK))
    for k in range(chunks):
        first_day, last_day = days * k // chunks, days * (k + 1) // chunks
        size = n * (k + 1) // chunks - n * k // chunks
        yield synthetic_events(
            size,
            seed=1000 + k,
            start=start + timedelta(days=first_day),
            days=max(1, last_day - first_day),
            ordered=True,
            prefix=f"c{k}-",
        )


async def complete(conn: asyncpg.Connection, settings: Settings, events: int, rules: int) -> bool:
    """Every event stored, and every province with data evaluated by every rule through the
    newest day (a province without any event has no progress to wait for)."""
    if await offsets_sum(conn, settings.ingest.group_id) < events:
        return False
    newest = await conn.fetchval("SELECT max(day) FROM daily_counts")
    if newest is None:
        return False
    provinces = {r[0] for r in await conn.fetch("SELECT DISTINCT province FROM daily_counts")}
    done = await conn.fetch(
        "SELECT province, count(*) FROM alert_progress WHERE clock = $1 AND "
        "evaluated_through >= $2 GROUP BY province",
        "event_time",
        newest,
    )
    finished = {province for province, count in done if count >= rules}
    return provinces <= finished


class NoticeWatch:
    """Whether the alerts service has acted on every notice ingest published: its group's
    committed offsets (committed only after the evaluation a notice triggered is stored) have
    reached the end of `incidents.accepted`. Without this a late notice could still be pending
    when the progress table already shows the newest day."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic_accepted
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=settings.alerts.group_id,  # to read its commits; never joins the group
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()
        parts = sorted(self.consumer.partitions_for_topic(self.topic) or ())
        self.partitions = [TopicPartition(self.topic, p) for p in parts]
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)

    async def settled(self) -> bool:
        await self.consumer.getmany(timeout_ms=100, max_records=100_000)  # moves high-waters
        for tp in self.partitions:
            end = self.consumer.highwater(tp)  # Tansu: only trustworthy after a fetch
            if end is None or (await self.consumer.committed(tp) or 0) < end:
                return False
        return True

    async def stop(self) -> None:
        await self.consumer.stop()


async def history(conn: asyncpg.Connection) -> tuple[History, History]:
    """Alerts and transitions, without ids or wall-clock times (what a replay must reproduce)."""
    alerts = await conn.fetch(
        """SELECT province, rule, method, state, severity, "window", started_at, fired_at,
                  resolved_at, observed, expected, threshold, score, p_value, baseline_start,
                  baseline_end
           FROM alerts ORDER BY province, rule, started_at"""
    )
    transitions = await conn.fetch(
        """SELECT a.province, a.rule, a.started_at, t.from_state, t.to_state, t.at
           FROM alert_transitions t JOIN alerts a ON a.id = t.alert_id
           ORDER BY a.province, a.rule, t.at, t.seq"""
    )
    return [tuple(r) for r in alerts], [tuple(r) for r in transitions]


async def run_stack(
    settings: Settings,
    feed: Callable[[], Awaitable[int]],
    *,
    before: bool,
    within_s: float,
) -> tuple[float, int, tuple[History, History]]:
    """Run ingest + alerts on `settings`; `feed` publishes (before the services start if
    `before`, else while they run) and returns the event count. Returns the seconds from the
    services' start (or the feed's, if later) to a complete history, the count, the history."""
    rules = len(load_rules(settings.rules_file))
    await ensure_topics(settings)
    events = await feed() if before else 0
    services: list[Service] = []
    conn = await asyncpg.connect(raw_url(settings.database_url))
    notices = NoticeWatch(settings)
    await notices.start()
    try:
        started = time.perf_counter()
        for command in ("ingest", "alerts"):
            services.append(await start_service(settings, command))
        for service in services:
            await wait_ready(service, within_s)
        if not before:
            started = time.perf_counter()
            events = await feed()

        async def done() -> bool:
            return await complete(conn, settings, events, rules) and await notices.settled()

        finished = await poll_until(done, within_s, "a complete alert history", every=0.25)
        return finished - started, events, await history(conn)
    finally:
        for service in services:
            await wait_process(service.process)
        await notices.stop()
        await conn.close()


async def speed(bootstrap: str, n: int, days: int) -> dict[str, Any]:
    async with fresh_database() as url:
        settings = bench_settings(bootstrap, url, clock="event_time")
        publish_s = 0.0

        async def feed() -> int:
            nonlocal publish_s
            producer = make_producer(settings, linger_ms=20, max_batch_size=1024 * 1024)
            await producer.start()
            try:
                for chunk in stream(n, days):
                    publish_s += await publish(settings, chunk, producer=producer)
            finally:
                await producer.stop()
            return n

        seconds, events, (alerts, transitions) = await run_stack(
            settings, feed, before=True, within_s=max(600.0, n / 200)
        )
    print(f"   published {n} events over {days} days in {publish_s:.0f}s")
    print(
        f"   ingest + alerts (event time): complete alert history in {seconds / 60:.1f} min "
        f"({rate(events, seconds):,.0f} events/s): {len(alerts)} alerts, "
        f"{len(transitions)} transitions; load {load()}"
    )
    return {
        "events": events,
        "days": days,
        "publish_s": round(publish_s, 1),
        "minutes": round(seconds / 60, 2),
        "events_per_s": round(rate(events, seconds)),
        "alerts": len(alerts),
        "transitions": len(transitions),
    }


async def compare(bootstrap: str, slow_rate: float, limit: int | None) -> dict[str, Any]:
    runs: dict[str, tuple[float, int, tuple[History, History]]] = {}
    items = demo_items(DEMO_SEED)[:limit]
    for label, pace in (("fast", 0.0), ("slow", slow_rate)):
        async with fresh_database() as url:
            settings = bench_settings(bootstrap, url, clock="event_time")

            async def feed(settings: Settings = settings, pace: float = pace) -> int:
                summary = await replay(settings, items, rate=pace)
                return summary.published

            runs[label] = await run_stack(settings, feed, before=False, within_s=900.0)
        seconds, events, (alerts, transitions) = runs[label]
        print(
            f"   demo feed {label:4s} ({'full speed' if not pace else f'{pace:g}/s'}): "
            f"{events} events, complete in {seconds:.1f}s, {len(alerts)} alerts, "
            f"{len(transitions)} transitions"
        )
    fast, slow = runs["fast"][2], runs["slow"][2]
    identical = fast == slow
    if not identical:
        for name, a, b in (("alerts", fast[0], slow[0]), ("transitions", fast[1], slow[1])):
            only_fast, only_slow = set(a) - set(b), set(b) - set(a)
            print(f"   {name}: {len(only_fast)} only at full speed, {len(only_slow)} only slow")
            for row in sorted(only_fast, key=str)[:3]:
                print(f"     fast: {row}")
            for row in sorted(only_slow, key=str)[:3]:
                print(f"     slow: {row}")
    print(f"   histories identical: {identical}")
    return {
        "slow_rate": slow_rate,
        "events": runs["fast"][1],
        "fast_s": round(runs["fast"][0], 1),
        "slow_s": round(runs["slow"][0], 1),
        "alerts": len(fast[0]),
        "transitions": len(fast[1]),
        "identical": identical,
    }


async def main(args: argparse.Namespace) -> None:
    facts = header(NAME, events=args.events, days=args.days, slow_rate=args.slow_rate)
    with broker() as running:
        result = await speed(running.bootstrap, args.events, args.days)
        same = (
            None
            if args.skip_compare
            else await compare(running.bootstrap, args.slow_rate, args.compare_events)
        )
    emit(
        NAME,
        facts,
        **result,
        compare=same,
        target_met=same is None or bool(same["identical"]),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--events", type=parse_size, default=1_000_000, help="default 1M")
    parser.add_argument("--days", type=int, default=3650, help="days the events span (10 years)")
    parser.add_argument("--slow-rate", type=float, default=50.0, help="demo feed, events/s")
    parser.add_argument("--skip-compare", action="store_true", help="speed only")
    parser.add_argument(
        "--compare-events", type=int, default=None, help="only the demo feed's first N events"
    )
    return parser


if __name__ == "__main__":
    asyncio.run(main(build_parser().parse_args()))
