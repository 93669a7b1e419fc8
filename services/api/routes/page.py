"""GET / (the status page) and GET /page/live (its changing part, for the page's script)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from services.api.caching import NO_CACHE, etag_matches, not_modified
from services.api.deps import ContextDep, ReadAccess

router = APIRouter(dependencies=[ReadAccess], include_in_schema=False)
HTML = "text/html; charset=utf-8"


@router.get("/", response_class=HTMLResponse)
async def page(context: ContextDep) -> HTMLResponse:
    refresher, renderer = context.refresher, context.renderer
    body, _ = (
        refresher.derived("page", lambda p: renderer.page(p, _live_etag(refresher.etag)).encode())
        if refresher.picture is not None
        else (renderer.page(None, "").encode(), "")
    )
    status = 200 if refresher.picture is not None else 503
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": NO_CACHE})


def _live_etag(picture_etag: str) -> str:
    return picture_etag[:-1] + '-live"' if picture_etag else ""


@router.get("/page/live", response_class=HTMLResponse)
async def page_live(request: Request, context: ContextDep) -> Response:
    refresher, renderer = context.refresher, context.renderer
    if refresher.picture is None:
        return HTMLResponse(
            renderer.live(None), status_code=503, headers={"Cache-Control": NO_CACHE}
        )
    etag = _live_etag(refresher.etag)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    body, _ = refresher.derived("page:live", lambda p: renderer.live(p).encode())
    return HTMLResponse(body, headers={"ETag": etag, "Cache-Control": NO_CACHE})
