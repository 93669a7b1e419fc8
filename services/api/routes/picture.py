"""GET /v1/picture: the cached picture, as computed by the refresher."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.api.caching import cached_bytes
from services.api.deps import READ_SECURITY, checked_read
from services.api.problems import NOT_MODIFIED, Problem, documented
from services.api.refresher import Refresher
from services.api.schemas import Picture

router = APIRouter(tags=["picture"])


def current(refresher: Refresher) -> Picture:
    """The picture, or a 503 problem until the first computation succeeded."""
    if refresher.picture is None:
        raise Problem(
            503,
            "the picture has not been computed yet (is the database reachable?)",
            kind="picture-unavailable",
            headers={"Retry-After": "1"},
        )
    return refresher.picture


@router.get(
    "/v1/picture",
    response_model=Picture,
    responses={**NOT_MODIFIED, **documented(401, 403, 503)},
    summary="National totals and every province's status, counts, baseline, trend and alerts",
    openapi_extra={"security": READ_SECURITY},
)
async def get_picture(request: Request) -> Response:
    # The most polled route checks its key by hand (`checked_read`): resolving `ReadAccess`
    # per request held it to half a bare route's rate (docs/benchmarks.md, section 5).
    refresher = checked_read(request).refresher
    current(refresher)
    return cached_bytes(request, refresher.body, refresher.etag)
