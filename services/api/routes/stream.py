"""GET /v1/stream: Server-Sent Events of alert transitions and picture changes.

- `event: alert`, `id: <seq>`: one per new alert_transitions row, in seq order. A client that
  reconnects with `Last-Event-ID` gets every transition after that seq.
- `event: picture` (no id): the whole picture, at connect and whenever it changes.
- `: keep-alive` comments when nothing happened for a while, so proxies keep the line open.

Transitions are committed by several writers (alerts instances, acks), so on PostgreSQL a later
seq can become visible before an earlier one. The stream never passes a gap at once: it waits up
to `GAP_GRACE_S` for the missing seq (a rolled-back insert leaves a gap forever) before going on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from orjson import dumps
from sqlalchemy import func, select

from services.api.deps import ApiContext, ContextDep, ReadAccess
from services.api.problems import Problem, documented
from services.api.schemas import AlertOut, TransitionOut
from services.core.models import AlertRow, AlertTransitionRow

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
BATCH = 200
RETRY_MS = 3000
GAP_GRACE_S = 1.0


def contiguous(seqs: Sequence[int], last: int, gap_seen: float | None, now: float) -> int:
    """How many of `seqs` (ascending, all > last) may go out now, given when a gap was seen."""
    count = 0
    for seq in seqs:
        if seq != last + 1 and (gap_seen is None or now - gap_seen < GAP_GRACE_S):
            break
        last, count, gap_seen = seq, count + 1, None
    return count


async def _after(context: ApiContext, seq: int) -> list[tuple[AlertTransitionRow, AlertRow]]:
    async with context.sessions() as session:
        rows = await session.execute(
            select(AlertTransitionRow, AlertRow)
            .join(AlertRow, AlertRow.id == AlertTransitionRow.alert_id)
            .where(AlertTransitionRow.seq > seq)
            .order_by(AlertTransitionRow.seq)
            .limit(BATCH)
        )
        return [(t, a) for t, a in rows.all()]


async def _max_seq(context: ApiContext) -> int:
    async with context.sessions() as session:
        value = await session.scalar(select(func.max(AlertTransitionRow.seq)))
        return int(value or 0)


def _alert_event(transition: AlertTransitionRow, alert: AlertRow) -> str:
    out = TransitionOut.from_row(transition).model_dump(mode="json")
    out["alert"] = AlertOut.from_row(alert).model_dump(mode="json")
    return f"event: alert\nid: {transition.seq}\ndata: {dumps(out).decode()}\n\n"


async def events(context: ApiContext, last: int) -> AsyncIterator[str]:
    """The event stream after seq `last`, until the client leaves or the app stops."""
    refresher = context.refresher
    yield f"retry: {RETRY_MS}\n\n"
    sent_etag = ""
    gap_seen: float | None = None
    try:
        while not refresher.closing:
            changed = refresher.changed()
            if refresher.etag and refresher.etag != sent_etag:
                sent_etag = refresher.etag
                yield f"event: picture\ndata: {refresher.body.decode()}\n\n"
            batch = await _after(context, last)
            ready = contiguous([t.seq for t, _ in batch], last, gap_seen, time.monotonic())
            for transition, alert in batch[:ready]:
                last = transition.seq
                yield _alert_event(transition, alert)
            if ready < len(batch):  # a gap: look again shortly
                gap_seen = gap_seen if ready == 0 and gap_seen is not None else time.monotonic()
                await asyncio.sleep(GAP_GRACE_S / 4)
                continue
            gap_seen = None
            if ready == BATCH:
                continue
            try:
                await asyncio.wait_for(changed.wait(), context.heartbeat_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
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
) -> StreamingResponse:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 18:
            raise Problem(400, "Last-Event-ID: must be a transition seq", kind="bad-event-id")
        last = int(text)
    else:
        last = await _max_seq(context)
    return StreamingResponse(
        events(context, last),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
