"""The api's Kafka side: the producer behind POST /v1/incidents (and acknowledgements).

The producer starts in the background and retries, so the api serves reads while Kafka is away;
until it is up, publishing answers 503 and /readyz says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer

from services.core.events import RawMessage
from services.core.kafka import make_producer
from services.core.settings import Settings

log = logging.getLogger(__name__)

STRUCTURED = "application/cloudevents+json"
BINARY_DATA = ("application/json", "text/json")
SEND_TIMEOUT_S = 10.0


class KafkaUnavailable(Exception):
    """Kafka is not configured, not reachable yet, or did not take the message in time."""


def raw_message(body: bytes, headers: Iterable[tuple[str, str]]) -> RawMessage:
    """An HTTP request as the message `parse` expects: `ce-*` headers become `ce_*` headers.

    Structured mode carries the envelope in the body; binary mode carries `ce-specversion` and
    the other attributes as headers, and the event's data as the body.
    """
    out: list[tuple[str, bytes]] = []
    for name, value in headers:
        low = name.lower()
        if low.startswith("ce-"):
            out.append(("ce_" + low[3:], value.encode("utf-8", errors="replace")))
        elif low == "content-type":
            out.append(("content-type", value.encode("utf-8", errors="replace")))
    return RawMessage(value=body, headers=tuple(out), topic="http")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class Gateway:
    def __init__(self, settings: Settings, *, retry_s: float = 2.0) -> None:
        self.settings = settings
        self.retry_s = retry_s
        self.producer: AIOKafkaProducer | None = None
        self._starter: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.kafka_bootstrap)

    def start(self) -> None:
        if self.configured:
            self._starter = asyncio.create_task(self._start(), name="api-kafka-producer")

    async def _start(self) -> None:
        while True:
            producer = make_producer(self.settings)
            try:
                await producer.start()
            except Exception as exc:
                log.warning("Kafka producer not started; retrying", extra={"error": repr(exc)})
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(self.retry_s)
                continue
            self.producer = producer
            return

    async def stop(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """Return once Kafka has the message (acks=all); raise `KafkaUnavailable` otherwise."""
        if self.producer is None:
            raise KafkaUnavailable(
                "Kafka is not configured" if not self.configured else "Kafka is not reachable yet"
            )
        try:
            await asyncio.wait_for(
                self.producer.send_and_wait(topic, value, key=key, headers=list(headers)),
                SEND_TIMEOUT_S,
            )
        except Exception as exc:
            log.warning("publish failed", extra={"topic": topic, "error": repr(exc)})
            raise KafkaUnavailable(f"Kafka did not take the message: {type(exc).__name__}") from exc

    async def check(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        """Readiness: can we reach the cluster right now?"""
        if not self.configured:
            return True, "not configured (POST /v1/incidents answers 503)"
        if self.producer is None:
            return False, "producer not connected"
        try:
            ok = await asyncio.wait_for(self.producer.client.force_metadata_update(), timeout_s)
        except Exception as exc:
            return False, f"metadata request failed: {type(exc).__name__}"
        return (True, "reachable") if ok else (False, "metadata request failed")
