"""`surgewatch alerts`: the alerts service as a process (rules, signals, ops server, wiring)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.clock import Now, make_clock, utcnow
from services.alerts.evaluator import Evaluator
from services.alerts.metrics import AlertsMetrics
from services.alerts.model import Rule
from services.alerts.rules import RulesError, load_rules
from services.alerts.store import AlertStore
from services.alerts.worker import AlertsWorker
from services.core.db import make_engine
from services.core.gazetteer import load_gazetteer
from services.core.kafka import ensure_topics, make_producer, with_timeout
from services.core.ops_server import serve_ops
from services.core.settings import Settings

log = logging.getLogger("surgewatch.alerts")
DEFAULT_METRICS_PORT = 9102


@dataclass
class AlertsService:
    """The wired service: what `run` starts, and what tests drive in-process."""

    settings: Settings
    rules: tuple[Rule, ...]
    metrics: AlertsMetrics
    engine: AsyncEngine
    producer: AIOKafkaProducer
    worker: AlertsWorker


@asynccontextmanager
async def alerts_service(
    settings: Settings, rules: tuple[Rule, ...] | None = None, now: Now = utcnow
) -> AsyncIterator[AlertsService]:
    """Build the service (rules first: a bad rules file raises `RulesError` before any I/O)."""
    rules = rules if rules is not None else load_rules(settings.rules_file)
    gazetteer = load_gazetteer(settings.gazetteer_file)
    metrics = AlertsMetrics(gazetteer.codes, [r.name for r in rules])
    engine = make_engine(settings, writer=True)
    store = AlertStore(engine)
    clock = make_clock(settings.clock, gazetteer.timezone, now)
    evaluator = Evaluator(store, rules, clock, metrics)
    producer = make_producer(settings)
    try:
        await ensure_topics(settings, [settings.topic_accepted, settings.topic_alerts])
        await producer.start()
        worker = AlertsWorker(settings, evaluator, store, producer, metrics, gazetteer.codes)
        yield AlertsService(settings, rules, metrics, engine, producer, worker)
    finally:
        await with_timeout(producer.stop(), 10, "producer flush")
        await engine.dispose()


async def run(settings: Settings, *, install_signals: bool = True) -> int:
    """Evaluate until SIGTERM/SIGINT: finish the evaluation in hand, commit, leave the group."""
    try:
        rules = load_rules(settings.rules_file)
    except RulesError as exc:
        log.error("bad rules file", extra={"error": str(exc)})
        print(f"surgewatch alerts: bad rules file: {exc}", file=sys.stderr)
        return 2
    async with alerts_service(settings, rules) as service:
        worker = service.worker
        port = DEFAULT_METRICS_PORT if settings.metrics_port is None else settings.metrics_port
        server, server_task = await serve_ops(service.metrics.registry, worker.health, port)
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if install_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, worker.stop)
        log.info(
            "alerts started",
            extra={
                "topic": settings.topic_accepted,
                "clock": settings.clock.value,
                "rules": [r.name for r in service.rules],
                "metrics_port": port,
            },
        )
        try:
            await worker.start()
            await worker.run()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await worker.close()
            server.should_exit = True
            await server_task
            log.info("alerts stopped")
    return 0


if __name__ == "__main__":
    from services.cli import main

    sys.exit(main(["alerts", *sys.argv[1:]]))
