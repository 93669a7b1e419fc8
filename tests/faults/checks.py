"""What the fault tests read back: stored offsets, row counts, notices and DLQ records."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.models import ConsumerOffsetRow
from services.core.notices import Notice

NoticeKey = tuple[str, str, str, int, str]  # (province, source, id, version, change)


async def stored_offsets(engine: AsyncEngine, group_id: str, topic: str) -> dict[int, int]:
    """The next offset per partition as the database holds it (the truth for ingest)."""
    query = select(ConsumerOffsetRow.partition, ConsumerOffsetRow.next_offset).where(
        ConsumerOffsetRow.group_id == group_id, ConsumerOffsetRow.topic == topic
    )
    async with engine.connect() as conn:
        return {int(p): int(o) for p, o in await conn.execute(query)}


async def stored_messages(engine: AsyncEngine, group_id: str, topic: str) -> int:
    """Messages stored so far (every partition starts at offset 0 on a fresh topic)."""
    return sum((await stored_offsets(engine, group_id, topic)).values())


async def count_rows(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


def notice_keys(records: list[Any]) -> Counter[NoticeKey]:
    """How often each (province, source, id, version, change) was announced."""
    keys: Counter[NoticeKey] = Counter()
    for record in records:
        n = Notice.decode(record.value)
        keys[(n.province, n.source, n.id, n.version, n.change)] += 1
    return keys


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None


def dlq_positions(records: list[Any]) -> Counter[tuple[str, str]]:
    """How often each source (partition, offset) reached the DLQ."""
    return Counter(
        (header(r, "source.partition") or "?", header(r, "source.offset") or "?") for r in records
    )
