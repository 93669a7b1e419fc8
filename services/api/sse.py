"""A Server-Sent Events response whose every write must be taken within a send timeout.

uvicorn's `send` waits while the client's socket buffers are full, so a client that never reads
would keep its stream, and whatever it was about to send, for as long as it stays connected.
Here a write still waiting after `send_timeout_s` ends the stream: it is counted in
`surgewatch_api_sse_dropped_total` and the server closes the connection (the response never
completed; uvicorn logs that). A client that was merely slow reconnects with Last-Event-ID and
misses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.api.metrics import ApiMetrics

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` from `events`; open ones count in `surgewatch_api_sse_clients`."""

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        *,
        metrics: ApiMetrics,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        super().__init__(events, headers=HEADERS)
        self.events = events
        self.metrics = metrics
        self.send_timeout_s = send_timeout_s

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.events:
            try:
                async with asyncio.timeout(self.send_timeout_s):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except TimeoutError:
                self.metrics.sse_dropped.inc()
                log.info(
                    "event stream dropped: the client took no write for %.1f s", self.send_timeout_s
                )
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.sse_clients.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.metrics.sse_clients.dec()
            await self.events.aclose()
