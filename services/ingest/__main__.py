"""`surgewatch ingest`: the ingest service as a process (signals, ops server, wiring)."""

from __future__ import annotations

import asyncio
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
