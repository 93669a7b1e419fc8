"""The api's Kafka side: the producer behind POST /v1/incidents (and acknowledgements).

The producer starts in the background and retries, so the api serves reads while Kafka is away;
until it is up, publishing answers 503 and /readyz says why.

Publishing has two outcomes besides success, and they must not be confused:
- `KafkaUnavailable`: nothing was handed to the producer (not connected, no metadata, buffer
  full, or the broker refused the record outright): the event was not published.
- `PublishUnconfirmed`: the record is in the producer's buffer (or on the wire) but Kafka did
  not acknowledge it in time. Cancelling our wait does not take it back: it may well be stored
  later. Only a retry settles it, and a retry is safe: ingest recognises the same
  (source, id, version) as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError

from services.core.events import RawMessage
from services.core.kafka import make_producer
from services.core.settings import Settings

log = logging.getLogger(__name__)

STRUCTURED = "application/cloudevents+json"
BINARY_DATA = ("application/json", "text/json")
SEND_TIMEOUT_S = 10.0


class KafkaUnavailable(Exception):
    """The event was not published: Kafka is not configured, not reachable, or refused it."""


class PublishUnconfirmed(Exception):
    """The record was handed to the producer but not acknowledged in time: outcome unknown."""


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
    def __init__(
        self, settings: Settings, *, retry_s: float = 2.0, send_timeout_s: float = SEND_TIMEOUT_S
    ) -> None:
        self.settings = settings
        self.retry_s = retry_s
        self.send_timeout_s = send_timeout_s
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
        """Return once Kafka has the message (acks=all), within `send_timeout_s` in all.

        Raise `KafkaUnavailable` if it was not handed over, `PublishUnconfirmed` if it was but
        no acknowledgement came (or the producer gave up after handing it over).
        """
        producer = self.producer
        if producer is None:
            raise KafkaUnavailable(
                "Kafka is not configured" if not self.configured else "Kafka is not reachable yet"
            )
        deadline = asyncio.get_running_loop().time() + self.send_timeout_s
        try:
            # Cancelling `send` (still waiting for metadata or buffer space) drops the record.
            async with asyncio.timeout_at(deadline):
                delivery = await producer.send(topic, value, key=key, headers=list(headers))
        except Exception as exc:
            log.warning("publish not handed over", extra={"topic": topic, "error": repr(exc)})
            raise KafkaUnavailable(f"Kafka did not take the message: {_name(exc)}") from exc
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(delivery)
        except Exception as exc:
            if isinstance(exc, KafkaError) and not _ambiguous(exc):
                log.warning("publish refused", extra={"topic": topic, "error": repr(exc)})
                raise KafkaUnavailable(f"Kafka refused the message: {_name(exc)}") from exc
            log.warning("publish unconfirmed", extra={"topic": topic, "error": repr(exc)})
            delivery.add_done_callback(functools.partial(_late_outcome, topic))
            raise PublishUnconfirmed(_name(exc)) from exc

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


def _name(exc: BaseException) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__


def _ambiguous(exc: KafkaError) -> bool:
    """Could the broker have stored the record despite this error? Retriable errors (the request
    timed out, the leader moved) and the producer's own timeout leave it open; any other error
    is the broker's answer for the partition: not written."""
    return exc.retriable or isinstance(exc, KafkaTimeoutError)


def _late_outcome(topic: str, delivery: asyncio.Future[object]) -> None:
    """Log how an unconfirmed publish ended, for whoever reconciles it."""
    if delivery.cancelled():
        return
    error = delivery.exception()
    if error is None:
        log.info("unconfirmed publish was stored after all", extra={"topic": topic})
    else:
        log.warning("unconfirmed publish failed", extra={"topic": topic, "error": repr(error)})
