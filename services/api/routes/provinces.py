"""GET /v1/provinces, /v1/provinces/{code} and their series."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import func, select

from services.api.caching import cached_bytes, conditional
from services.api.deps import ContextDep, ReadAccess, SessionDep
from services.api.params import resolve_region
from services.api.problems import NOT_MODIFIED, Problem, documented
from services.api.routes.picture import current
from services.api.schemas import Picture, ProvinceList, ProvincePicture, SeriesOut, SeriesPoint
from services.api.series import (
    DEFAULT_SPAN,
    MAX_POINTS,
    Interval,
    Metric,
    bucket_start,
    bucketed,
    point_count,
)
from services.api.snapshot import as_of
from services.core.models import DailyCountRow

router = APIRouter(tags=["provinces"], dependencies=[ReadAccess])

CodePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="an ISO 3166-2 code or any name or alias in the gazetteer (PK-KP, KPK, FATA…)",
    ),
]


@router.get(
    "/v1/provinces",
    response_model=ProvinceList,
    responses={**NOT_MODIFIED, **documented(401, 403, 503)},
    summary="Every province with its picture",
)
async def list_provinces(request: Request, context: ContextDep) -> Response:
    current(context.refresher)
    body, etag = context.refresher.derived("provinces", _province_list)
    return cached_bytes(request, body, etag)


def _province_list(picture: Picture) -> bytes:
    listing = ProvinceList(
        as_of=picture.as_of, as_of_day=picture.as_of_day, items=picture.provinces
    )
    return listing.model_dump_json().encode()


@router.get(
    "/v1/provinces/{code}",
    response_model=ProvincePicture,
    responses={**NOT_MODIFIED, **documented(401, 403, 404, 503)},
    summary="One province's picture (a subregion's code or alias gives its province)",
)
async def get_province(request: Request, context: ContextDep, code: CodePath) -> Response:
    match = resolve_region(context.gazetteer, code)
    current(context.refresher)
    wanted = match.region.code

    def one(picture: Picture) -> bytes:
        return next(p for p in picture.provinces if p.code == wanted).model_dump_json().encode()

    body, etag = context.refresher.derived(f"province:{wanted}", one)
    return cached_bytes(request, body, etag)


@router.get(
    "/v1/provinces/{code}/series",
    response_model=SeriesOut,
    responses={**NOT_MODIFIED, **documented(401, 403, 404, 422)},
    summary="Counts by day, week, month or year; a subregion's code gives that subregion's",
)
async def get_series(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    code: CodePath,
    metric: Annotated[Metric, Query()] = "incidents",
    interval: Annotated[Interval, Query()] = "day",
    since: Annotated[date | None, Query(description="default: a span fitting the interval")] = None,
    until: Annotated[date | None, Query(description="default: the picture's as_of_day")] = None,
) -> Response:
    match = resolve_region(context.gazetteer, code)
    if since is not None and until is not None and since > until:
        raise Problem(422, "since: must not be after until", kind="bad-range")
    token = await context.refresher.current_token(session)

    async def build() -> SeriesOut:
        end = until
        if end is None:
            _, end = await as_of(
                session, context.gazetteer, context.settings.clock, context.refresher.now()
            )
        start = bucket_start(
            since if since is not None else _default_since(end, interval), interval
        )
        if start > end:
            raise Problem(422, "since: must not be after until", kind="bad-range")
        if point_count(start, end, interval) > MAX_POINTS:
            raise Problem(
                422,
                f"since/until: more than {MAX_POINTS} {interval}s; narrow the range",
                kind="bad-range",
            )
        c = DailyCountRow
        value = {
            "incidents": c.incidents,
            "killed": c.killed,
            "injured": c.injured,
            "casualties": c.killed + c.injured,
        }[metric]
        stmt = (
            select(c.day, func.sum(value))
            .where(c.province == match.region.code, c.day >= start, c.day <= end)
            .group_by(c.day)
        )
        if match.subregion is not None:
            stmt = stmt.where(c.subregion == match.subregion.code)
        rows = [(day, int(total or 0)) for day, total in (await session.execute(stmt)).all()]
        return SeriesOut(
            province=match.region.code,
            subregion=match.subregion.code if match.subregion else None,
            metric=metric,
            interval=interval,
            since=start,
            until=end,
            points=[SeriesPoint(start=s, value=v) for s, v in bucketed(rows, start, end, interval)],
        )

    return await conditional(request, token, build)


def _default_since(until: date, interval: Interval) -> date:
    try:
        return until - DEFAULT_SPAN[interval]
    except OverflowError:
        return date.min
