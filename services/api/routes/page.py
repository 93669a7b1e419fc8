"""GET / (the status page) and GET /page/live (its changing part, for the page's script).

Both are rendered once per picture change and served from the refresher's cache.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from services.api.caching import NO_CACHE, etag_matches, not_modified
from services.api.deps import ApiContext, ContextDep, ReadAccess

router = APIRouter(dependencies=[ReadAccess], include_in_schema=False)


def _live(context: ApiContext) -> tuple[bytes, str]:
    renderer, refresher = context.renderer, context.refresher
    return refresher.derived("page:live", lambda p: renderer.live(p, refresher.history).encode())


@router.get("/", response_class=HTMLResponse)
async def page(context: ContextDep) -> HTMLResponse:
    refresher, renderer = context.refresher, context.renderer
    if refresher.picture is None:
        body = renderer.page(None, None, "")
        return HTMLResponse(body, status_code=503, headers={"Cache-Control": NO_CACHE})
    _, live_etag = _live(context)
    html, _ = refresher.derived(
        "page", lambda p: renderer.page(p, refresher.history, live_etag).encode()
    )
    return HTMLResponse(html, headers={"Cache-Control": NO_CACHE})


@router.get("/page/live", response_class=HTMLResponse)
async def page_live(request: Request, context: ContextDep) -> Response:
    if context.refresher.picture is None:
        notice = context.renderer.live(None, None)
        return HTMLResponse(notice, status_code=503, headers={"Cache-Control": NO_CACHE})
    body, etag = _live(context)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    return HTMLResponse(body, headers={"ETag": etag, "Cache-Control": NO_CACHE})
