"""Feeds test helpers: items through the real check, a topic read back, versions folded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from services.core.events import Incident, Parsed, RawMessage, Rejection, Retraction
from services.core.gazetteer import load_gazetteer
from services.core.parse import parse
from services.core.settings import Settings
from services.feeds.check import prepare
from services.feeds.items import Item, Outgoing
from services.feeds.summary import Summary

NOW = datetime(2025, 6, 1, tzinfo=UTC)
GAZETTEER = load_gazetteer()


def prepared(items: Iterable[Item]) -> tuple[list[Outgoing], Summary]:
    """What a replay would send (checked by the real parse), and its summary."""
    summary = Summary()
    return list(prepare(items, GAZETTEER, NOW, summary)), summary


def parse_value(value: bytes | None, headers: Iterable[tuple[str, bytes]] = ()) -> Parsed:
    return parse(RawMessage(value=value, headers=tuple(headers)), GAZETTEER, NOW)


def incidents(outgoing: Iterable[Outgoing]) -> list[Incident]:
    """The incidents the messages parse to (fails the test if one does not parse as one)."""
    out = []
    for message in outgoing:
        parsed = parse_value(message.value)
        assert isinstance(parsed, Incident), parsed
        out.append(parsed)
    return out


def final_state(parsed: Iterable[Parsed]) -> dict[tuple[str, str], Incident]:
    """What ingest keeps: the highest version of each incident, retracted ones removed."""
    latest: dict[tuple[str, str], Incident] = {}
    retracted: set[tuple[str, str]] = set()
    for event in parsed:
        assert not isinstance(event, Rejection), event
        key = (event.source, event.id)
        if isinstance(event, Retraction):
            retracted.add(key)
        elif key not in latest or latest[key].version < event.version:
            latest[key] = event
    return {k: v for k, v in latest.items() if k not in retracted}


async def consume(settings: Settings, expected: int, wait_s: float = 20) -> list[ConsumerRecord]:
    """Every record of `settings.topic_incidents`: waits for `expected`, then looks for extras."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        consumer.subscribe([settings.topic_incidents])
        deadline = asyncio.get_running_loop().time() + wait_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        for batch in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records
