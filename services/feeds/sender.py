"""Sending checked events to `incidents`: batched futures unpaced, a token bucket when paced."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from services.core.kafka import ensure_topics, make_producer
from services.core.settings import Settings
from services.feeds import envelope
from services.feeds.items import Outgoing
from services.feeds.pacing import TokenBucket
from services.feeds.summary import Summary

BATCH = 1000  # futures awaited together when unpaced


async def send_all(
    settings: Settings, messages: Iterable[Outgoing], summary: Summary, rate: float = 0
) -> None:
    """Publish every message to `settings.topic_incidents` and flush; counts acks in `summary`.

    Raises the Kafka error (aiokafka's `KafkaError`) if the broker cannot be reached or a send
    fails; what was acknowledged before that is already counted.
    """
    await ensure_topics(settings, [settings.topic_incidents])
    producer = make_producer(settings)
    try:
        await producer.start()
        await _send(producer, settings.topic_incidents, messages, summary, rate)
    finally:
        await producer.stop()


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    messages: Iterable[Outgoing],
    summary: Summary,
    rate: float,
) -> None:
    bucket = TokenBucket(rate) if rate > 0 else None
    # Paced, settle about once a second so the count (and a failure) shows up promptly.
    settle_every = max(1, int(rate)) if bucket else BATCH
    pending: list[asyncio.Future[object]] = []
    for message in messages:
        if bucket:
            await bucket.take()
        pending.append(
            await producer.send(topic, message.value, key=message.key, headers=envelope.HEADERS)
        )
        if len(pending) >= settle_every:
            await _settle(pending, summary)
    await producer.flush()
    await _settle(pending, summary)


async def _settle(pending: list[asyncio.Future[object]], summary: Summary) -> None:
    results = await asyncio.gather(*pending, return_exceptions=True)
    pending.clear()
    summary.published += sum(1 for r in results if not isinstance(r, BaseException))
    for result in results:
        if isinstance(result, BaseException):
            raise result
