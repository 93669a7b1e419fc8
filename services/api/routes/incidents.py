"""GET /v1/incidents (filtered, keyset-paginated), GET /v1/incidents/{source}/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import String, and_, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import cursor
from services.api.deps import ContextDep, ReadAccess, SessionDep
from services.api.params import (
    NO_NUL,
    CursorQuery,
    LimitQuery,
    SinceQuery,
    UntilQuery,
    instant_range,
    resolve_region,
)
from services.api.problems import Problem, documented
from services.api.schemas import (
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    IncidentVersionOut,
    RetractionOut,
    utc,
)
from services.core.events import Category, Target
from services.core.models import IncidentRow, IncidentVersionRow, RetractionRow

router = APIRouter(tags=["incidents"], dependencies=[ReadAccess])

MAX_SPLITS = 16


@router.get(
    "/v1/incidents",
    response_model=IncidentPage,
    responses=documented(400, 401, 403, 422),
    summary="Incidents, newest first; follow next_cursor for the next page",
)
async def list_incidents(
    context: ContextDep,
    session: SessionDep,
    province: Annotated[
        str | None, Query(max_length=200, description="code or alias; FATA selects its subregion")
    ] = None,
    category: Category | None = None,
    target: Target | None = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    include_retracted: Annotated[bool, Query(description="list retracted ones too")] = False,
    limit: LimitQuery = 50,
    cursor_: Annotated[CursorQuery, Query(alias="cursor")] = None,
) -> IncidentPage:
    low, high = instant_range(since, until, context.gazetteer.timezone)
    i = IncidentRow
    stmt = select(i).order_by(i.occurred_at.desc(), i.source.desc(), i.id.desc()).limit(limit + 1)
    if province is not None:
        match = resolve_region(context.gazetteer, province, status=422)
        stmt = stmt.where(i.province == match.region.code)
        if match.subregion is not None:
            stmt = stmt.where(i.subregion == match.subregion.code)
    if category is not None:
        stmt = stmt.where(i.category == category.value)
    if target is not None:
        stmt = stmt.where(i.target == target.value)
    if low is not None:
        stmt = stmt.where(i.occurred_at >= low)
    if high is not None:
        stmt = stmt.where(i.occurred_at < high)
    if not include_retracted:
        stmt = stmt.where(i.retracted.is_(False))
    if cursor_ is not None:
        at, source, id_ = cursor.decode_incident(cursor_)
        after = tuple_(
            literal(at, i.occurred_at.type), literal(source, String()), literal(id_, String())
        )
        stmt = stmt.where(tuple_(i.occurred_at, i.source, i.id) < after)
    rows = list(await session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    next_cursor = (
        cursor.encode(utc(last.occurred_at).isoformat(), last.source, last.id) if last else None
    )
    return IncidentPage(items=[IncidentOut.from_row(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/v1/incidents/{source:path}/{id}",
    response_model=IncidentDetail,
    responses=documented(401, 403, 404),
    summary="One incident with its version history and retraction, if any",
)
async def get_incident(
    session: SessionDep,
    source: Annotated[
        str, Path(min_length=1, pattern=NO_NUL, description="the CloudEvents source; may hold '/'")
    ],
    id: Annotated[str, Path(min_length=1, pattern=NO_NUL, description="the incident id")],
) -> IncidentDetail:
    row = await _find(session, f"{source}/{id}")
    if row is None:
        raise Problem(404, f"no incident {id!r} from source {source!r}", kind="unknown-incident")
    versions = await session.scalars(
        select(IncidentVersionRow)
        .where(IncidentVersionRow.source == row.source, IncidentVersionRow.id == row.id)
        .order_by(IncidentVersionRow.version)
    )
    retraction = await session.get(RetractionRow, (row.source, row.id))
    return IncidentDetail(
        **IncidentOut.from_row(row).model_dump(),
        event_id=row.event_id,
        retraction=None
        if retraction is None
        else RetractionOut(
            reason=retraction.reason,
            event_id=retraction.event_id,
            retracted_at=utc(retraction.retracted_at),
        ),
        versions=[
            IncidentVersionOut(
                version=v.version,
                event_id=v.event_id,
                received_at=utc(v.received_at),
                data=v.data or {},
            )
            for v in versions
        ],
    )


async def _find(session: AsyncSession, path: str) -> IncidentRow | None:
    """Both source and id may hold '/': try every split, the longest source first."""
    splits = [(path[:n], path[n + 1 :]) for n in range(len(path) - 1, 0, -1) if path[n] == "/"][
        :MAX_SPLITS
    ]
    splits = [(s, i) for s, i in splits if s and i and len(s) <= 256 and len(i) <= 128]
    if not splits:
        return None
    found = {
        (r.source, r.id): r
        for r in await session.scalars(
            select(IncidentRow).where(
                or_(*(and_(IncidentRow.source == s, IncidentRow.id == i) for s, i in splits))
            )
        )
    }
    return next((found[key] for key in splits if key in found), None)
