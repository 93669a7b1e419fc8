"""`make soak`: the whole stack under steady load for an hour; does memory or latency creep?

Starts an embedded broker, a fresh PostgreSQL database and `surgewatch ingest`, `alerts` and
`api` as processes (live clock), publishes incidents at `--rate` events/s (new reports with a
few corrections and retractions), and polls the api (picture with ETag, provinces, series,
incidents, alerts) and the status page. Every `--sample-every` seconds it samples each
service's RSS, the api's latency (p50/p95 of the polls since the last sample), ingest's lag and
the stored count. At the end it prints a table, the slopes (MB/hour, ms/hour, by least squares
over the samples) and one JSON summary line.

    python -m bench.soak                      # one hour at 500/s
    python -m bench.soak --duration 300       # five minutes

Not part of CI. Needs PostgreSQL on 127.0.0.1:5432 (`make services`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from services.core.broker import start_broker
from services.core.kafka import ensure_topics, make_producer
from services.core.migrate import upgrade_async
from services.core.settings import Settings, load_settings
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.faults import Stack, cpu_seconds, rss_mb, service_env

PROVINCES = ["Balochistan", "KP", "Sindh", "Punjab", "ICT", "GB", "AJK", "FATA"]
CATEGORIES = ["armed_assault", "bombing", "targeted_killing", "kidnapping", "clash"]
POLLED = [
    "/v1/picture",
    "/v1/provinces",
    "/v1/provinces/PK-BA/series?metric=incidents&interval=week",
    "/v1/incidents?province=PK-KP",
    "/v1/alerts?state=all",
    "/",
]


@dataclass
class Sample:
    t: float  # seconds since the start
    rss: dict[str, float]  # MiB per service
    cpu: dict[str, float]  # CPU seconds per service, cumulative
    p50_ms: float
    p95_ms: float
    requests: int
    errors: int
    sent: int
    stored: float
    lag: float


@dataclass
class Run:
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # since the last sample, seconds
    requests: int = 0
    errors: int = 0  # 5xx or transport failures
    error_kinds: dict[str, int] = field(default_factory=dict)


def incidents(rng: random.Random, start: int) -> Any:
    """An endless, seeded stream of (key, value): ~92% new, 5% corrections, 3% retractions."""
    n = start
    known: list[tuple[str, int]] = []
    while True:
        n += 1
        roll = rng.random()
        if roll < 0.05 and known:
            i = rng.randrange(len(known))
            id_, version = known[i]
            known[i] = (id_, version + 1)
            yield id_, _event(rng, id_, version + 1, n)
        elif roll < 0.08 and known:
            id_, _ = known.pop(rng.randrange(len(known)))
            yield id_, _envelope("incident.retracted", {"id": id_, "reason": "soak"}, n)
        else:
            id_ = f"soak-{n}"
            known.append((id_, 1))
            if len(known) > 50_000:
                known = known[-25_000:]
            yield id_, _event(rng, id_, 1, n)


def _event(rng: random.Random, id_: str, version: int, n: int) -> bytes:
    day = datetime.now(UTC).date() - timedelta(days=rng.randrange(60))
    data = {
        "id": id_,
        "version": version,
        "occurred_at": day.isoformat(),
        "province": rng.choice(PROVINCES),
        "category": rng.choice(CATEGORIES),
        "killed": rng.randint(0, 4),
        "injured": rng.randint(0, 9),
        "summary": "soak test incident",
    }
    return _envelope("incident.reported", data, n)


def _envelope(kind: str, data: dict[str, Any], n: int) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"soak-evt-{n}",
            "source": "bench/soak",
            "type": kind,
            "data": data,
        }
    )


async def publish(settings: Settings, rate: float, run: Run, stop: asyncio.Event) -> None:
    producer = make_producer(settings)
    await producer.start()
    stream = incidents(random.Random(500), 0)
    tick = 0.1
    try:
        started = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate) - run.sent
            futures = []
            for _ in range(max(0, due)):
                key, value = next(stream)
                futures.append(
                    await producer.send(settings.topic_incidents, value, key=key.encode())
                )
            if futures:
                await asyncio.gather(*futures)
                run.sent += len(futures)
            await asyncio.sleep(tick)
    finally:
        await producer.stop()


async def poll(base: str, run: Run, stop: asyncio.Event, interval: float) -> None:
    """Poll like a dashboard would: each path in turn, with If-None-Match where we have one."""
    etags: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not stop.is_set():
            for path in POLLED:
                headers = {"If-None-Match": etags[path]} if path in etags else {}
                started = time.perf_counter()
                try:
                    response = await client.get(path, headers=headers)
                    status = response.status_code
                    if "etag" in response.headers:
                        etags[path] = response.headers["etag"]
                except httpx.HTTPError as exc:
                    status, kind = 0, type(exc).__name__
                else:
                    kind = str(status)
                run.latencies.append(time.perf_counter() - started)
                run.requests += 1
                if status == 0 or status >= 500:
                    run.errors += 1
                    run.error_kinds[kind] = run.error_kinds.get(kind, 0) + 1
            await asyncio.sleep(interval)


async def sample(stack: Stack, run: Run, t: float) -> Sample:
    latencies, run.latencies = run.latencies, []
    ms = sorted(x * 1000 for x in latencies) or [0.0]
    ingest = await stack["ingest"].metrics()
    stored = sum(
        v
        for (name, labels), v in ingest.items()
        if name == "surgewatch_ingest_events_total" and dict(labels).get("result") != "rejected"
    )
    lag = sum(v for (name, _), v in ingest.items() if name == "surgewatch_ingest_lag_messages")
    return Sample(
        t=t,
        rss={s: rss_mb(p.pid) for s, p in stack.procs.items()},
        cpu={s: cpu_seconds(p.pid) for s, p in stack.procs.items()},
        p50_ms=statistics.median(ms),
        p95_ms=ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        requests=run.requests,
        errors=run.errors,
        sent=run.sent,
        stored=stored,
        lag=lag,
    )


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    if len(ts) < 2:
        return 0.0
    return float(np.polyfit(np.array(ts) / 3600, np.array(ys), 1)[0])


def report(samples: list[Sample], run: Run, args: argparse.Namespace) -> dict[str, Any]:
    services = list(samples[0].rss)
    print(
        f"{'t (s)':>7} {'sent':>9} {'stored':>9} {'lag':>6} "
        + " ".join(f"{s + ' MiB':>11}" for s in services)
        + f" {'p50 ms':>7} {'p95 ms':>7} {'5xx':>4}"
    )
    for s in samples:
        print(
            f"{s.t:7.0f} {s.sent:9d} {s.stored:9.0f} {s.lag:6.0f} "
            + " ".join(f"{s.rss[name]:11.1f}" for name in services)
            + f" {s.p50_ms:7.1f} {s.p95_ms:7.1f} {s.errors:4d}"
        )
    warmup = min(args.warmup, args.duration / 5)
    steady = [s for s in samples if s.t >= warmup] or samples  # slopes after the warm-up
    ts = [s.t for s in steady]
    timed = [s for s in samples if s.t > 0]  # the first sample has no latency window
    elapsed = samples[-1].t or 1.0
    summary = {
        "bench": "soak",
        "duration_s": round(elapsed),
        "shortened": args.duration < 3600,
        "rate_target": args.rate,
        "rate_achieved": round(samples[-1].sent / elapsed, 1),
        "events_sent": samples[-1].sent,
        "events_stored": int(samples[-1].stored),
        "final_lag": int(samples[-1].lag),
        "requests": run.requests,
        "errors_5xx": run.errors,
        "error_kinds": run.error_kinds,
        "rss_mb": {n: round(samples[-1].rss[n], 1) for n in services},
        "warmup_s": round(warmup),
        "rss_slope_mb_per_hour": {
            n: round(slope_per_hour(ts, [s.rss[n] for s in steady]), 1) for n in services
        },
        "cpu_share": {
            n: round((samples[-1].cpu[n] - samples[0].cpu[n]) / elapsed, 3) for n in services
        },
        "latency_p50_ms": round(statistics.median([s.p50_ms for s in timed] or [0]), 1),
        "latency_p95_ms": round(max([s.p95_ms for s in timed] or [0]), 1),
        "latency_p95_slope_ms_per_hour": round(
            slope_per_hour([s.t for s in steady if s.t > 0], [s.p95_ms for s in steady if s.t > 0]),
            1,
        ),
        "samples": len(samples),
    }
    rss_slopes = summary["rss_slope_mb_per_hour"]
    assert isinstance(rss_slopes, dict)
    print(
        f"slopes after a {warmup:.0f}s warm-up: "
        + ", ".join(f"{n} {v:+.1f} MB/h" for n, v in rss_slopes.items())
        + f"; api p95 {summary['latency_p95_slope_ms_per_hour']:+.1f} ms/h"
    )
    print(orjson.dumps(summary).decode())
    return summary


async def soak(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="surgewatch-soak-"))
    url = await create_pg_database("surgewatch_soak")
    try:
        await upgrade_async(url)
        with start_broker(log_file=work / "tansu.log") as broker:
            settings = load_settings(
                database_url=url,
                kafka_bootstrap=broker.bootstrap,
                topic_incidents="soak.incidents",
                topic_accepted="soak.incidents.accepted",
                topic_dlq="soak.incidents.dlq",
                topic_alerts="soak.alerts",
            )
            await ensure_topics(settings)
            stack = Stack(service_env(settings), work)
            try:  # the services stop before the broker does
                await stack.start()
                await run_load(stack, settings, args, work)
            finally:
                await stack.close()
        return 0
    finally:
        with contextlib.suppress(Exception):
            await drop_pg_database(url)


async def run_load(stack: Stack, settings: Settings, args: argparse.Namespace, work: Path) -> None:
    print(f"soak: {args.duration:.0f}s at {args.rate:.0f} events/s; logs in {work}")
    run, stop = Run(), asyncio.Event()
    tasks = [
        asyncio.create_task(publish(settings, args.rate, run, stop)),
        asyncio.create_task(poll(stack["api"].url, run, stop, args.poll_every)),
    ]
    started = time.monotonic()
    samples = [await sample(stack, run, 0.0)]
    try:
        while (elapsed := time.monotonic() - started) < args.duration:
            await asyncio.sleep(min(args.sample_every, args.duration - elapsed))
            stack.check_alive()
            samples.append(await sample(stack, run, time.monotonic() - started))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    report(samples, run, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    parser.add_argument("--rate", type=float, default=500, help="events/s (default 500)")
    parser.add_argument("--sample-every", type=float, default=60, help="seconds (default 60)")
    parser.add_argument(
        "--warmup", type=float, default=120, help="seconds left out of the slopes (at most 1/5)"
    )
    parser.add_argument("--poll-every", type=float, default=1.0, help="seconds between poll rounds")
    return asyncio.run(soak(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
