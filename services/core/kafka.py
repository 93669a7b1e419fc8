"""Kafka wiring shared by the services: client options from settings, topics, producers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.core.settings import Settings

log = logging.getLogger(__name__)


class KafkaNotConfigured(RuntimeError):
    """SURGEWATCH_KAFKA_BOOTSTRAP is unset and no embedded broker was started."""


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options common to every aiokafka client, from `SURGEWATCH_KAFKA_*`."""
    if not settings.kafka_bootstrap:
        raise KafkaNotConfigured(
            "SURGEWATCH_KAFKA_BOOTSTRAP is not set (use `surgewatch dev` for an embedded broker)"
        )
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def all_topics(settings: Settings) -> list[str]:
    return [
        settings.topic_incidents,
        settings.topic_accepted,
        settings.topic_dlq,
        settings.topic_alerts,
    ]


async def ensure_topics(settings: Settings, topics: list[str] | None = None) -> None:
    """Create the topics surgewatch uses if they are missing (idempotent)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in (topics or all_topics(settings)) if t not in existing]
        if missing:
            new = [NewTopic(t, settings.topic_partitions, 1) for t in missing]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A plain (non-idempotent) producer with acks=all; the test broker rejects idempotence."""
    options: dict[str, Any] = {
        **client_options(settings),
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def with_timeout(coro: Any, seconds: float, what: str) -> bool:
    """Await `coro` for at most `seconds`; log and return False if it hangs or fails."""
    try:
        await asyncio.wait_for(coro, seconds)
        return True
    except Exception as exc:  # a commit that hangs against a restarted broker, say
        log.warning("%s failed", what, extra={"error": repr(exc)})
        return False
