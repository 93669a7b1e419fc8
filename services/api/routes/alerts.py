"""GET /v1/alerts, GET /v1/alerts/{id}, POST /v1/alerts/{id}/ack.

Acknowledging (operator key) records who saw the alert: it sets acknowledged_at/by and adds an
`acknowledged` transition, which the alerts service's outbox relays to the `alerts` topic. It is
idempotent: acknowledging again answers 200 and changes nothing. A resolved alert that nobody
acknowledged answers 409: it is over, there is nothing left to take on.

The optional body is read by hand, after the operator key was checked (FastAPI reads a `Body()`
before any dependency runs): a client without a key is refused before a byte of it is read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import cursor
from services.api.caching import conditional
from services.api.deps import ContextDep, OperatorAccess, ReadAccess, SessionDep
from services.api.params import CursorQuery, LimitQuery, SinceQuery, instant_range, resolve_region
from services.api.problems import NOT_MODIFIED, Problem, documented
from services.api.schemas import AckIn, AlertDetail, AlertOut, AlertPage, TransitionOut
from services.core.models import OPEN_STATES, AlertRow, AlertTransitionRow

router = APIRouter(tags=["alerts"])

StateQuery = Literal["open", "pending", "firing", "resolved", "all"]
AlertId = Annotated[int, Path(ge=1, le=cursor.INT64_MAX, description="the alert's id")]
ACK_SOURCE = "surgewatch/api"
_ACK_BODY = TypeAdapter(AckIn | None)
_ACK_REQUEST_BODY = {
    "required": False,
    "description": "who acknowledges and why (both optional); the body may be left out",
    "content": {
        "application/json": {"schema": {"anyOf": [AckIn.model_json_schema(), {"type": "null"}]}}
    },
}


@router.get(
    "/v1/alerts",
    response_model=AlertPage,
    dependencies=[ReadAccess],
    responses={**NOT_MODIFIED, **documented(400, 401, 403, 422)},
    summary="Alerts, newest first: open ones by default, `state=all` for every one",
)
async def list_alerts(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    state: Annotated[StateQuery, Query(description="open = pending or firing")] = "open",
    province: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[
        SinceQuery, Query(description="alerts active at or after this instant")
    ] = None,
    limit: LimitQuery = 50,
    cursor_: Annotated[CursorQuery, Query(alias="cursor")] = None,
) -> Response:
    low, _ = instant_range(since, None, context.gazetteer.timezone)
    a = AlertRow
    stmt = select(a).order_by(a.id.desc()).limit(limit + 1)
    if state == "open":
        stmt = stmt.where(a.state.in_(OPEN_STATES))
    elif state != "all":
        stmt = stmt.where(a.state == state)
    if province is not None:
        stmt = stmt.where(
            a.province == resolve_region(context.gazetteer, province, status=422).region.code
        )
    if low is not None:
        stmt = stmt.where(or_(a.resolved_at.is_(None), a.resolved_at >= low))
    if cursor_ is not None:
        stmt = stmt.where(a.id < cursor.decode_seq(cursor_))
    token = await context.refresher.current_token(session)

    async def build() -> AlertPage:
        rows = list(await session.scalars(stmt))
        more = len(rows) > limit
        rows = rows[:limit]
        return AlertPage(
            items=[AlertOut.from_row(r) for r in rows],
            next_cursor=cursor.encode(rows[-1].id) if more else None,
        )

    return await conditional(request, token, build)


@router.get(
    "/v1/alerts/{id}",
    response_model=AlertDetail,
    dependencies=[ReadAccess],
    responses=documented(401, 403, 404),
    summary="One alert with its explanation and every transition",
)
async def get_alert(session: SessionDep, id: AlertId) -> AlertDetail:
    return await _detail(session, id)


async def _detail(session: AsyncSession, alert_id: int) -> AlertDetail:
    row = await session.get(AlertRow, alert_id, populate_existing=True)
    if row is None:
        raise Problem(404, f"no alert {alert_id}", kind="unknown-alert")
    transitions = await session.scalars(
        select(AlertTransitionRow)
        .where(AlertTransitionRow.alert_id == alert_id)
        .order_by(AlertTransitionRow.seq)
    )
    return AlertDetail(
        **AlertOut.from_row(row).model_dump(),
        transitions=[TransitionOut.from_row(t) for t in transitions],
    )


@router.post(
    "/v1/alerts/{id}/ack",
    response_model=AlertDetail,
    dependencies=[OperatorAccess],
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    openapi_extra={"requestBody": _ACK_REQUEST_BODY},
    summary="Acknowledge an open alert (operator key); idempotent",
)
async def ack_alert(request: Request, session: SessionDep, id: AlertId) -> AlertDetail:
    ack = await _ack_body(request)
    by = (ack.by if ack else None) or "operator"
    note = ack.note if ack else None
    now = datetime.now(UTC)
    async with session.begin():
        # One conditional UPDATE: it takes the row (or SQLite's write lock) before anything is
        # read, so a concurrent resolve or ack cannot slip in between check and write.
        done = await session.execute(
            update(AlertRow)
            .where(
                AlertRow.id == id,
                AlertRow.acknowledged_at.is_(None),
                AlertRow.state.in_(OPEN_STATES),
            )
            .values(acknowledged_at=now, acknowledged_by=by)
            .execution_options(synchronize_session=False)
        )
        row = await session.get(AlertRow, id, populate_existing=True)
        if row is None:
            raise Problem(404, f"no alert {id}", kind="unknown-alert")
        if done.rowcount == 1:  # type: ignore[attr-defined]
            session.add(
                AlertTransitionRow(
                    alert_id=id,
                    from_state=row.state,
                    to_state="acknowledged",
                    at=now,
                    recorded_at=now,
                    details={"by": by, "note": note},
                )
            )
        elif row.acknowledged_at is None:
            raise Problem(
                409,
                f"alert {id} is resolved; only open alerts can be acknowledged",
                kind="alert-resolved",
            )
    return await _detail(session, id)


async def _ack_body(request: Request) -> AckIn | None:
    """The optional JSON body, read now (the key has been checked); 422 as FastAPI would."""
    body = await request.body()
    if not body.strip():
        return None
    try:
        return _ACK_BODY.validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
