"""Ingest memory: the resident set of `surgewatch ingest` while it drains a backlog.

The baseline, measured in the same run: the same command idle on an empty topic (imports,
clients, pools: what the process costs before any event). Then `--events` (default 1M)
synthetic events are published first, a fresh `surgewatch ingest` drains them, and its VmRSS is
sampled every 0.2 s; VmHWM (the kernel's peak) is read at the end, before it stops. Target:
peak ≤ 150 MB (MiB here, the stricter reading).

    python -m bench.ingest_memory [--events 1M] [--batch-max 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from bench.support import (
    bench_settings,
    broker,
    emit,
    fresh_database,
    header,
    offsets_sum,
    parse_size,
    peak_rss_mib,
    publish,
    rate,
    raw_url,
    rss_mib,
    start_service,
    synthetic_events,
    wait_process,
    wait_ready,
)
from services.core.kafka import ensure_topics, make_producer
from services.core.settings import Settings

NAME = "ingest_memory"
TARGET_MIB = 150.0
CHUNK = 50_000


async def idle(settings: Settings, seconds: float) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `surgewatch ingest` ready and idle on an empty topic."""
    await ensure_topics(settings)
    service = await start_service(settings, "ingest")
    try:
        await wait_ready(service)
        await asyncio.sleep(seconds)
        pid = service.process.pid
        return rss_mib(pid), peak_rss_mib(pid)
    finally:
        await wait_process(service.process)


async def drain(settings: Settings, n: int, **env: str) -> tuple[float, float, list[float], float]:
    """Publish `n` events, then run `surgewatch ingest` until it stored them all.

    Returns (peak VmHWM MiB, seconds, VmRSS samples MiB, seconds the publishing took)."""
    await ensure_topics(settings)
    producer = make_producer(settings, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    published = 0.0
    try:
        for k in range(0, n, CHUNK):
            chunk = synthetic_events(min(CHUNK, n - k), seed=2000 + k, prefix=f"m{k}-")
            published += await publish(settings, chunk, producer=producer)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(raw_url(settings.database_url))
    service = await start_service(settings, "ingest", **env)
    samples: list[float] = []
    try:
        started = time.perf_counter()
        pid = service.process.pid
        deadline = time.monotonic() + max(600.0, n / 200)
        while await offsets_sum(conn, settings.ingest.group_id) < n:
            if service.process.returncode is not None:
                raise RuntimeError(f"ingest exited with {service.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("ingest did not drain the backlog in time")
            samples.append(rss_mib(pid))
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        return peak_rss_mib(pid), seconds, samples, published
    finally:
        await wait_process(service.process)
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    facts = header(NAME, events=args.events, batch_max=args.batch_max)
    with broker() as running:
        async with fresh_database() as url:
            tuning = {"batch_max": args.batch_max}
            idle_rss, idle_peak = await idle(
                bench_settings(running.bootstrap, url, ingest={**tuning, "group_id": "idle"}),
                args.idle_seconds,
            )
            settings = bench_settings(
                running.bootstrap, url, ingest={**tuning, "group_id": "bench-memory"}
            )
            peak, seconds, samples, published = await drain(settings, args.events)
    n = args.events
    print(f"   idle (empty topic): RSS {idle_rss:.1f} MiB, peak {idle_peak:.1f} MiB")
    print(f"   published {n} events in {published:.0f}s")
    print(
        f"   draining {n}: peak (VmHWM) {peak:.1f} MiB, sampled RSS max "
        f"{max(samples, default=0):.1f} MiB, {seconds:.0f}s ({rate(n, seconds):,.0f} events/s)"
    )
    if samples:
        marks = [samples[min(len(samples) - 1, len(samples) * q // 4)] for q in (1, 2, 3, 4)]
        print(f"   RSS at 25/50/75/100% of the drain: {' / '.join(f'{m:.0f}' for m in marks)} MiB")
    met = peak <= TARGET_MIB
    print(
        f"   peak / idle = {peak / idle_rss:.2f}; peak ≤ {TARGET_MIB:.0f} MiB: "
        f"{'met' if met else 'MISSED'}"
    )
    emit(
        NAME,
        facts,
        events=n,
        batch_max=args.batch_max,
        idle_rss_mib=round(idle_rss, 1),
        peak_rss_mib=round(peak, 1),
        sampled_max_mib=round(max(samples, default=0), 1),
        ratio_peak_vs_idle=round(peak / idle_rss, 2),
        drain_s=round(seconds, 1),
        events_per_s=round(rate(n, seconds)),
        target_mib=TARGET_MIB,
        target_met=met,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_memory", description=__doc__)
    parser.add_argument("--events", type=parse_size, default=1_000_000, help="default 1M")
    parser.add_argument("--batch-max", type=int, default=5000, help="SURGEWATCH_INGEST__BATCH_MAX")
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="idle before measuring")
    return parser


if __name__ == "__main__":
    asyncio.run(main(build_parser().parse_args()))
