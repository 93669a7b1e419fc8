"""What routes depend on, as `Annotated` aliases: the app's context, a session, the keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.broadcast import Broadcast
from services.api.gateway import Gateway
from services.api.keys import Access, allowed_keys, check_access, presented_key
from services.api.metrics import ApiMetrics
from services.api.page.render import PageRenderer
from services.api.refresher import Refresher
from services.api.sse import SEND_TIMEOUT_S as SSE_SEND_TIMEOUT_S
from services.core.gazetteer import Gazetteer
from services.core.settings import Settings


@dataclass
class ApiContext:
    """Everything the app holds for its lifetime; built by `create_app`, opened in its lifespan."""

    settings: Settings
    gazetteer: Gazetteer
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    refresher: Refresher
    gateway: Gateway
    metrics: ApiMetrics
    renderer: PageRenderer
    broadcast: Broadcast
    heartbeat_s: float = 15.0
    sse_send_timeout_s: float = SSE_SEND_TIMEOUT_S


# Dependencies are `async def` even where they do not await: FastAPI runs a plain `def` one in
# its thread pool, a thread hop per dependency per request (it cost /v1/picture 5× its rate).


async def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


async def get_session(context: ContextDep) -> AsyncIterator[AsyncSession]:
    async with context.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# Declared as security schemes so /docs shows them; checking is ours (401 vs 403, constant time).
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
ApiKeyDep = Annotated[str | None, Security(_api_key)]


# What an operation using these schemes declares in OpenAPI (for a route that checks by hand).
READ_SECURITY: list[dict[str, list[str]]] = [{_bearer.scheme_name: []}, {_api_key.scheme_name: []}]


def _key(bearer: HTTPAuthorizationCredentials | None, api_key: str | None) -> str | None:
    authorization = f"{bearer.scheme} {bearer.credentials}" if bearer else None
    return presented_key(authorization, api_key)


async def require_read(context: ContextDep, bearer: BearerDep, api_key: ApiKeyDep) -> None:
    check_access(Access.read, _key(bearer, api_key), context.settings)


async def require_publisher(context: ContextDep, bearer: BearerDep, api_key: ApiKeyDep) -> None:
    check_access(Access.publisher, _key(bearer, api_key), context.settings)


async def require_operator(context: ContextDep, bearer: BearerDep, api_key: ApiKeyDep) -> None:
    check_access(Access.operator, _key(bearer, api_key), context.settings)


def checked_read(request: Request) -> ApiContext:
    """`ContextDep` after `ReadAccess`, in one plain call: for a route polled so hard that
    FastAPI resolving those dependencies (five, two of them security schemes) would cost more
    than the route itself. Such a route declares `READ_SECURITY` in its `openapi_extra`.

    The server strips the headers' surrounding whitespace, so `presented_key` on the raw
    headers finds the key the schemes find.
    """
    context: ApiContext = request.app.state.context
    if allowed_keys(Access.read, context.settings) is None:
        return context  # reads are open: no header to look at
    headers = request.headers
    key = presented_key(headers.get("authorization"), headers.get("x-api-key"))
    check_access(Access.read, key, context.settings)
    return context


ReadAccess = Depends(require_read)
PublisherAccess = Depends(require_publisher)
OperatorAccess = Depends(require_operator)
