"""GET /v1/stream over a real uvicorn: alert transitions, picture changes, resume, heartbeats,
one rendering shared by every stream, and clients that never read dropped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import httpx
import orjson

from services.api.app import create_app
from services.api.broadcast import Broadcast
from services.api.refresher import Refresher
from services.api.routes.stream import events as stream_events
from services.core.db import make_engine, make_sessionmaker
from services.core.gazetteer import load_gazetteer
from services.core.settings import load_settings
from tests.api.conftest import listening
from tests.api.rows import Rows
from tests.api.sse import collect, events, next_of


async def test_stream_sends_transitions_and_pictures_and_resumes(
    database_url: str, rows: Rows
) -> None:
    alert_id = await rows.alert("PK-BA", state="pending")
    first_seq = await rows.max_seq()
    settings = load_settings(database_url=database_url)
    app = create_app(settings, refresh_interval_s=0.05, heartbeat_s=0.3)
    async with listening(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with client.stream("GET", "/v1/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = events(response.aiter_lines())
            picture = await next_of(stream, "picture")
            assert orjson.loads(picture.data)["national"]["active_alerts"] == 1

            fired = await rows.transition(alert_id, "pending", "firing")
            got = await collect(stream, {"alert", "picture"})
            alert, changed = got["alert"], got["picture"]
            assert alert.id == str(fired)
            data = orjson.loads(alert.data)
            assert (data["from_state"], data["to_state"]) == ("pending", "firing")
            assert data["alert"]["province"] == "PK-BA" and data["alert"]["state"] == "firing"
            ba = orjson.loads(changed.data)["provinces"][0]
            assert ba["code"] == "PK-BA" and ba["status"] == "surge"
            assert "keep-alive" in (await next_of(stream, "comment")).comments

        resolved = await rows.transition(alert_id, "firing", "resolved")
        resume = {"Last-Event-ID": str(first_seq)}
        async with client.stream("GET", "/v1/stream", headers=resume) as response:
            stream = events(response.aiter_lines())
            replayed = [await next_of(stream, "alert"), await next_of(stream, "alert")]
        assert [e.id for e in replayed] == [str(fired), str(resolved)]

        bad = await client.get("/v1/stream", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 400

        # Both streams ended when their clients left: each was counted once it closed.
        await asyncio.sleep(0.3)
        registry = app.state.context.metrics.registry
        labels = {"route": "/v1/stream", "method": "GET", "status": "200"}
        assert registry.get_sample_value("surgewatch_http_requests_total", labels) == 2


DROPPED, CLIENTS = "surgewatch_api_sse_dropped_total", "surgewatch_api_sse_clients"


async def stalled_client(base: str) -> asyncio.StreamWriter:
    """Connects with a 4 KiB receive buffer, asks for the stream, and never reads a byte."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    _, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"GET /v1/stream HTTP/1.1\r\nHost: api\r\n\r\n")
    await writer.drain()
    return writer


async def test_a_client_that_never_reads_is_dropped_and_a_reader_misses_nothing(
    database_url: str, rows: Rows
) -> None:
    alert_id = await rows.alert("PK-BA", state="firing")
    settings = load_settings(database_url=database_url)
    app = create_app(settings, refresh_interval_s=0.05, heartbeat_s=0.3, sse_send_timeout_s=1.0)
    registry = app.state.context.metrics.registry

    def sample(name: str) -> float:
        return registry.get_sample_value(name) or 0.0

    received: list[int] = []
    async with listening(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        stalled = await stalled_client(base)
        async with client.stream("GET", "/v1/stream") as response:
            stream = events(response.aiter_lines())
            await next_of(stream, "picture")
            first = last = await rows.max_seq()

            async def read() -> None:
                async for event in stream:
                    if event.event == "alert":
                        received.append(int(event.id or 0))

            reader = asyncio.create_task(read())
            try:
                assert sample(CLIENTS) == 2
                # 60 KB frames: the kernel holds about 4 MB for a client that never reads
                deadline = time.monotonic() + 20
                while not sample(DROPPED) and time.monotonic() < deadline:
                    if last - first < 400:
                        last = await rows.transitions(alert_id, 10, note_bytes=60_000)
                    await asyncio.sleep(0.05)
                assert sample(DROPPED) == 1, f"not dropped after {last - first} big frames"
                assert sample(CLIENTS) == 1
                after = await rows.transition(alert_id, "firing", "resolved")
                for _ in range(100):
                    if received and received[-1] == after:
                        break
                    await asyncio.sleep(0.05)
            finally:
                reader.cancel()
                stalled.transport.abort()
    assert received == list(range(first + 1, after + 1))


async def test_every_stream_sends_the_one_rendering_of_each_event(
    database_url: str, rows: Rows
) -> None:
    alert_id = await rows.alert("PK-BA", state="firing")
    app = create_app(load_settings(database_url=database_url), refresh_interval_s=0.05)
    hub: Broadcast = app.state.context.broadcast
    async with (
        listening(app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        contextlib.AsyncExitStack() as streams,
    ):
        readers = []
        for _ in range(3):
            response = await streams.enter_async_context(client.stream("GET", "/v1/stream"))
            readers.append(events(response.aiter_lines()))
            await next_of(readers[-1], "picture")
        rendered = hub.rendered
        last = await rows.transitions(alert_id, 5, note_bytes=100)
        got = [[await next_of(reader, "alert") for _ in range(5)] for reader in readers]
    assert [[e.id for e in events_] for events_ in got] == [
        [str(seq) for seq in range(last - 4, last + 1)]
    ] * 3
    assert got[0] == got[1] == got[2]
    assert hub.rendered - rendered == 5, "rendered once, not once a stream"


async def until_published(hub: Broadcast, seq: int) -> None:
    for _ in range(200):
        if hub.last_seq == seq:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the poller never published {seq} (at {hub.last_seq})")


async def test_a_stream_resumed_from_behind_the_log_reads_the_gap_from_the_database(
    database_url: str, rows: Rows
) -> None:
    alert_id = await rows.alert("PK-BA", state="firing")
    settings = load_settings(database_url=database_url)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    refresher = Refresher(sessions, load_gazetteer(), settings.clock)
    hub = Broadcast(sessions, refresher, poll_s=0.05, max_bytes=20_000)  # ~15 frames
    poller = asyncio.create_task(hub.run())
    try:
        start = await rows.max_seq()
        await until_published(hub, start)  # the poller has started
        last = await rows.transitions(alert_id, 130, note_bytes=1_000)
        await until_published(hub, last)
        assert hub.last_seq == last and start < hub.floor < last and not hub.covers(start)
        seen: list[int] = []
        stream = stream_events(hub, start, heartbeat_s=0.2)
        async for chunk in stream:
            for line in chunk.split(b"\n"):
                if line.startswith(b"id: "):
                    seen.append(int(line[4:]))
            if seen and seen[-1] == last:
                break
        newer = await rows.transition(alert_id, "firing", "resolved")
        async for chunk in stream:  # back inside the log: the live frame, once
            if b"id: " in chunk:
                frame = hub.next_after(last)
                assert frame is not None and chunk == frame.data
                seen.append(newer)
                break
        await stream.aclose()
    finally:
        hub.close()
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await engine.dispose()
    assert seen == list(range(start + 1, newer + 1))
