"""The shared SSE log: gaps held back, its byte bound, and catch-up that renders the same bytes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from services.api.broadcast import Broadcast, contiguous
from services.api.refresher import Refresher
from services.core.db import make_engine, make_sessionmaker
from services.core.gazetteer import load_gazetteer
from services.core.settings import load_settings
from tests.api.rows import Rows


def test_gaps_are_held_back_for_a_grace_period() -> None:
    assert contiguous([5, 6, 7], 4, None, 0.0) == 3
    assert contiguous([6, 7], 4, None, 10.0) == 0  # 5 may still commit
    assert contiguous([6, 7], 4, 10.0, 10.5) == 0
    assert contiguous([6, 7], 4, 10.0, 11.5) == 2  # 5 never came: go on
    assert contiguous([5, 7], 4, None, 0.0) == 1


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Broadcast]:
    """A poller over the database with a 20 kB log (the app's is 4 MiB)."""
    settings = load_settings(database_url=database_url)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    refresher = Refresher(sessions, load_gazetteer(), settings.clock)
    running = Broadcast(sessions, refresher, poll_s=0.05, max_bytes=20_000)
    poller = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        running.close()
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await engine.dispose()


async def published(hub: Broadcast, seq: int) -> None:
    for _ in range(200):
        if hub.last_seq == seq:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the poller never published {seq} (at {hub.last_seq})")


async def test_the_log_keeps_the_newest_frames_within_its_bound(hub: Broadcast, rows: Rows) -> None:
    alert_id = await rows.alert("PK-BA", state="firing")
    start = await rows.max_seq()
    await published(hub, start)
    assert hub.covers(start) and hub.next_after(start) is None
    rendered = hub.rendered
    last = await rows.transitions(alert_id, 100, note_bytes=1_000)
    await published(hub, last)
    assert hub.rendered - rendered == 100
    logged = []
    seq = hub.floor
    while (frame := hub.next_after(seq)) is not None:
        logged.append(frame)
        seq = frame.seq
    assert [f.seq for f in logged] == list(range(hub.floor + 1, last + 1))
    size = sum(len(f.data) for f in logged)
    assert size <= 20_000 < size + len(logged[0].data), "full, and never over its bound"
    assert not hub.covers(start) and hub.covers(hub.floor)
    # what fell out of the log comes from the database, rendered to the same bytes
    frames, upto = await hub.catch_up(start)
    assert [f.seq for f in frames] == list(range(start + 1, start + 51)) and upto == start + 50
    tail, upto = await hub.catch_up(hub.floor)
    assert tail == logged and upto == last


async def test_a_stream_without_last_event_id_starts_after_the_newest(
    hub: Broadcast, rows: Rows
) -> None:
    alert_id = await rows.alert("PK-SD", state="pending")
    newest = await rows.max_seq()
    await published(hub, newest)
    assert await hub.newest_seq() == newest
    later = await rows.transition(alert_id, "pending", "firing")
    await published(hub, later)
    frame = hub.next_after(newest)
    assert frame is not None and frame.seq == later
    assert frame.data.startswith(b"event: alert\nid: %d\ndata: {" % later)
