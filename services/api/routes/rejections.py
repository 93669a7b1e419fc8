"""GET /v1/rejections: recent rejected events with their reasons (operator key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from services.api import cursor
from services.api.deps import OperatorAccess, SessionDep
from services.api.params import CursorQuery, LimitQuery
from services.api.problems import documented
from services.api.schemas import RejectionOut, RejectionPage
from services.core.events import RejectReason
from services.core.models import RejectionRow

router = APIRouter(tags=["rejections"], dependencies=[OperatorAccess])


@router.get(
    "/v1/rejections",
    response_model=RejectionPage,
    responses=documented(400, 401, 403, 422),
    summary="Rejected events, most recent first, with reason and detail (operator key)",
)
async def list_rejections(
    session: SessionDep,
    reason: RejectReason | None = None,
    limit: LimitQuery = 50,
    cursor_: Annotated[CursorQuery, Query(alias="cursor")] = None,
) -> RejectionPage:
    r = RejectionRow
    stmt = select(r).order_by(r.seq.desc()).limit(limit + 1)
    if reason is not None:
        stmt = stmt.where(r.reason == reason.value)
    if cursor_ is not None:
        stmt = stmt.where(r.seq < cursor.decode_seq(cursor_))
    rows = list(await session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return RejectionPage(
        items=[RejectionOut.from_row(row) for row in rows],
        next_cursor=cursor.encode(rows[-1].seq) if more else None,
    )
