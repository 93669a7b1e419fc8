"""GET /v1/stream over a real uvicorn: alert transitions, picture changes, resume, heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson

from services.api.app import create_app
from services.api.routes.stream import contiguous
from services.core.settings import load_settings
from tests.api.conftest import listening
from tests.api.rows import Rows


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    current = Event()
    async for line in lines:
        if line == "":
            yield current
            current = Event()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                current.event = value
            elif name == "id":
                current.id = value
            elif name == "data":
                current.data += value


async def next_of(stream: AsyncIterator[Event], kind: str) -> Event:
    async def find() -> Event:
        async for event in stream:
            if event.event == kind or (kind == "comment" and event.comments):
                return event
        raise AssertionError("stream ended")

    return await asyncio.wait_for(find(), 5.0)


async def collect(stream: AsyncIterator[Event], kinds: set[str]) -> dict[str, Event]:
    """The first event of each kind, in whatever order they come."""
    found: dict[str, Event] = {}

    async def gather() -> None:
        async for event in stream:
            if event.event in kinds and event.event not in found:
                found[event.event] = event
                if len(found) == len(kinds):
                    return

    await asyncio.wait_for(gather(), 5.0)
    return found


def test_gaps_are_held_back_for_a_grace_period() -> None:
    assert contiguous([5, 6, 7], 4, None, 0.0) == 3
    assert contiguous([6, 7], 4, None, 10.0) == 0  # 5 may still commit
    assert contiguous([6, 7], 4, 10.0, 10.5) == 0
    assert contiguous([6, 7], 4, 10.0, 11.5) == 2  # 5 never came: go on
    assert contiguous([5, 7], 4, None, 0.0) == 1


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
