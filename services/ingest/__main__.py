"""`surgewatch ingest`: the ingest service as a process (signals, ops server, wiring)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import signal

from services.core.db import make_engine
from services.core.gazetteer import load_gazetteer
from services.core.kafka import ensure_topics, make_producer, with_timeout
from services.core.ops_server import serve_ops
from services.core.settings import Settings
from services.ingest.consumer import IngestConsumer
from services.ingest.metrics import IngestMetrics
from services.ingest.store import IngestStore

log = logging.getLogger("surgewatch.ingest")
DEFAULT_METRICS_PORT = 9101


GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Freeze start-up's objects and collect young ones less often.

    A batch allocates about ten objects per event that live until it is stored; with the default
    thresholds (700, 10, 10) the collector rescanned the heap dozens of times per batch and
    doubled the Python time per event (docs/benchmarks.md). The garbage a batch leaves is freed
    by reference counting; the cycle collector still runs, just every 50,000 allocations.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024


def tune_malloc() -> None:
    """Pin glibc's mmap threshold at its 128 KiB default (as MALLOC_MMAP_THRESHOLD_=131072 does).

    glibc raises the threshold after freeing a big block, so the multi-MiB fetch responses move
    onto the heap, and a heap fragmented by them is never given back: the resident set grew to
    ~150 MiB draining a backlog, ~125 MiB pinned (docs/benchmarks.md). Not glibc: nothing to do.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):
        log.debug("mallopt unavailable; the mmap threshold stays dynamic")


async def run(settings: Settings, *, install_signals: bool = True) -> int:
    """Consume until SIGTERM/SIGINT: finish the batch in hand, commit, leave the group."""
    metrics = IngestMetrics()
    engine = make_engine(settings, writer=True)
    producer = make_producer(settings)
    await ensure_topics(settings)
    await producer.start()
    consumer = IngestConsumer(
        settings,
        IngestStore(engine, settings.ingest.group_id),
        producer,
        metrics,
        load_gazetteer(settings.gazetteer_file),
    )
    port = DEFAULT_METRICS_PORT if settings.metrics_port is None else settings.metrics_port
    server, server_task = await serve_ops(metrics.registry, consumer.health, port)
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, consumer.stop)
    tune_gc()
    tune_malloc()
    log.info("ingest started", extra={"topic": settings.topic_incidents, "metrics_port": port})
    try:
        await consumer.start()
        await consumer.run()
    finally:
        await consumer.close()
        await with_timeout(producer.stop(), 10, "producer flush")
        server.should_exit = True
        await server_task
        await engine.dispose()
        log.info("ingest stopped")
    return 0
