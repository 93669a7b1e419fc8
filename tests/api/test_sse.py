"""EventStreamResponse: a write the client does not take within the timeout ends the stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

from starlette.types import Message

from services.api.metrics import ApiMetrics
from services.api.sse import EventStreamResponse

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "GET"}


class Frames:
    """An endless stream of frames that notes when it was closed."""

    def __init__(self) -> None:
        self.closed = False

    async def run(self) -> AsyncGenerator[bytes, None]:
        try:
            while True:
                yield b"data: x\n\n"
                await asyncio.sleep(0)
        finally:
            self.closed = True


async def test_a_client_that_stops_taking_writes_is_dropped_and_counted() -> None:
    metrics, frames, sent = ApiMetrics(), Frames(), list[Message]()

    async def send(message: Message) -> None:
        sent.append(message)
        if len(sent) > 3:  # the client's buffers are full: this write never completes
            await asyncio.Event().wait()

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    response = EventStreamResponse(frames.run(), metrics=metrics, send_timeout_s=0.2)
    started = time.monotonic()
    await asyncio.wait_for(response(SCOPE, receive, send), 5)
    assert 0.2 <= time.monotonic() - started < 2
    assert metrics.registry.get_sample_value("surgewatch_api_sse_dropped_total") == 1
    assert metrics.registry.get_sample_value("surgewatch_api_sse_clients") == 0
    assert frames.closed
    assert (
        sent[0]["headers"]
        and (b"content-type", b"text/event-stream; charset=utf-8") in sent[0]["headers"]
    )
    assert all(m.get("more_body", True) for m in sent[1:]), "the response was never completed"


async def test_a_client_that_leaves_is_not_counted_as_dropped() -> None:
    metrics, frames = ApiMetrics(), Frames()
    writes = 0

    async def send(message: Message) -> None:
        nonlocal writes
        writes += 1
        await asyncio.sleep(0.001)

    async def receive() -> Message:
        await asyncio.sleep(0.1)
        return {"type": "http.disconnect"}

    response = EventStreamResponse(frames.run(), metrics=metrics, send_timeout_s=0.2)
    await asyncio.wait_for(response(SCOPE, receive, send), 5)
    assert writes > 5 and frames.closed
    assert metrics.registry.get_sample_value("surgewatch_api_sse_dropped_total") == 0
    assert metrics.registry.get_sample_value("surgewatch_api_sse_clients") == 0
