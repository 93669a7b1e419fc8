"""Conditional GETs: `ETag`, `Cache-Control: no-cache` and `If-None-Match` → 304."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from services.api.refresher import strong_etag

JSON = "application/json"
NO_CACHE = "no-cache"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against a list of entity tags (or `*`)."""
    if not if_none_match or not etag:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": NO_CACHE})


def cached_bytes(request: Request, body: bytes, etag: str) -> Response:
    """Serve `body` unless the client already holds `etag`."""
    if etag_matches(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    return Response(body, media_type=JSON, headers={"ETag": etag, "Cache-Control": NO_CACHE})


def request_etag(token: Any, request: Request) -> str:
    """An ETag for a response that is a function of the change token and the request."""
    return strong_etag(str(token), request.url.path, str(request.url.query))


async def conditional(
    request: Request, token: Any, build: Callable[[], Awaitable[BaseModel]]
) -> Response:
    """304 without building anything if the client holds the current version; else build."""
    etag = request_etag(token, request)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    model = await build()
    return Response(
        model.model_dump_json().encode(),
        media_type=JSON,
        headers={"ETag": etag, "Cache-Control": NO_CACHE},
    )
