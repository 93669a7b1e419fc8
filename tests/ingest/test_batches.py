"""publish_all: per-partition producer batches land where `send` would put them, in order."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.core.kafka import client_options, ensure_topics, make_producer
from services.core.settings import Settings
from services.ingest.batches import Outgoing, publish_all

pytestmark = pytest.mark.integration
KEYS = [f"PK-{c}".encode() for c in ("BA", "KP", "SD", "PB", "IS", "JK", "GB")]


async def read_all(settings: Settings, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) of the first `count` messages of `topic`, in offset order."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[tuple[int, int, bytes, bytes]] = []
        async with asyncio.timeout(30):
            while len(out) < count:
                batch = await consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    out += [(tp.partition, r.offset, r.key or b"", r.value or b"") for r in records]
    finally:
        await consumer.stop()
    return [(p, k, v) for p, _, k, v in sorted(out)]


async def test_same_partitions_as_send_and_the_same_order(topics: Settings) -> None:
    mine, theirs = f"{topics.topic_accepted}.batches", f"{topics.topic_accepted}.send"
    await ensure_topics(topics, [mine, theirs])
    # Small producer batches, so each partition's messages span several of them.
    producer = make_producer(topics, max_batch_size=2048)
    await producer.start()
    try:
        messages = [
            Outgoing(mine, KEYS[n % len(KEYS)], f"{n:04d}".encode() * 40, [("h", b"v")])
            for n in range(300)
        ]
        assert await publish_all(producer, iter(messages), 30) == []
        await asyncio.gather(*[await producer.send(theirs, m.value, key=m.key) for m in messages])
    finally:
        await producer.stop()
    batched = await read_all(topics, mine, 300)
    sent = await read_all(topics, theirs, 300)
    assert sorted(batched) == sorted(sent)  # each key on the partition `send` chose
    for partition in {p for p, _, _ in batched}:
        values = [v for p, _, v in batched if p == partition]
        assert values == sorted(values)  # in publishing order within a partition


async def test_every_message_not_acknowledged_is_counted(topics: Settings) -> None:
    producer = make_producer(topics)
    await producer.start()
    await producer.stop()  # a producer that can no longer send anything
    messages = [Outgoing(topics.topic_accepted, key, b"x") for key in KEYS * 3]
    messages.append(Outgoing(topics.topic_dlq, None, b"bad"))
    failures = await publish_all(producer, messages, 5)
    assert sum(f.count for f in failures) == len(messages)
    assert {f.topic for f in failures} == {topics.topic_accepted, topics.topic_dlq}
