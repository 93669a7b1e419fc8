"""GET /v1/stream: Server-Sent Events of alert transitions and picture changes.

- `event: alert`, `id: <seq>`: one per new alert_transitions row, in seq order. A client that
  reconnects with `Last-Event-ID` gets every transition after that seq.
- `event: picture` (no id): the whole picture, at connect and whenever it changes.
- `: keep-alive` comments when nothing happened for a while, so proxies keep the line open.

Every stream sends the frames `Broadcast` rendered once for all of them (a resumed stream reads
what it missed from the database first), and a client that takes no write within the send
timeout is dropped (`EventStreamResponse`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from services.api.broadcast import Broadcast
from services.api.deps import ContextDep, ReadAccess
from services.api.problems import Problem, documented
from services.api.sse import EventStreamResponse

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"], dependencies=[ReadAccess])

# One event of the stream, as OpenAPI 3.2 describes Server-Sent Events.
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["alert", "picture"]},
        "id": {"type": "string", "description": "the transition's seq (alert events)"},
        "data": {
            "type": "string",
            "description": "JSON: a transition with its alert, or the picture",
        },
        "retry": {"type": "integer", "minimum": 0},
    },
}
RETRY_MS = 3000
KEEP_ALIVE = b": keep-alive\n\n"


async def events(hub: Broadcast, last: int, heartbeat_s: float) -> AsyncGenerator[bytes, None]:
    """One client's stream after seq `last`, until the client leaves or the app stops."""
    yield b"retry: %d\n\n" % RETRY_MS
    sent_etag = ""
    try:
        while not hub.closing:
            changed = hub.changed()
            if hub.picture_etag and hub.picture_etag != sent_etag:
                sent_etag = hub.picture_etag
                yield hub.picture
                continue
            if hub.covers(last):
                frame = hub.next_after(last)
                if frame is not None:
                    last = frame.seq
                    yield frame.data
                    continue
            elif hub.last_seq is not None:  # behind the shared log: what it missed, from the DB
                frames, upto = await hub.catch_up(last)
                for frame in frames:
                    last = frame.seq
                    yield frame.data
                last = max(last, upto)
                continue
            try:
                await asyncio.wait_for(changed.wait(), heartbeat_s)
            except TimeoutError:
                yield KEEP_ALIVE
    except Exception as exc:  # the client reconnects with Last-Event-ID
        log.warning("event stream ended", extra={"error": repr(exc)})


@router.get(
    "/v1/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}}},
        **documented(400, 401, 403),
    },
    summary="Server-Sent Events: `alert` (id = transition seq) and `picture`",
)
async def stream(
    context: ContextDep,
    last_event_id: Annotated[
        str | None, Header(max_length=40, description="resume after this transition seq")
    ] = None,
) -> EventStreamResponse:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 18:
            raise Problem(400, "Last-Event-ID: must be a transition seq", kind="bad-event-id")
        last = int(text)
    else:
        last = await context.broadcast.newest_seq()
    return EventStreamResponse(
        events(context.broadcast, last, context.heartbeat_s),
        metrics=context.metrics,
        send_timeout_s=context.sse_send_timeout_s,
    )
