"""The api's FastAPI app: `create_app(settings)` wires routers, errors, metrics and the lifespan.

The lifespan computes the first picture, starts the refresher, the event streams' poller and the
Kafka producer (in the background: reads work while Kafka is away), and on the way out stops them
and the engine. Request bodies are bounded app-wide at the contract's 64 KiB message limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from services.api.body_limit import BodyLimitMiddleware
from services.api.broadcast import Broadcast
from services.api.deps import ApiContext
from services.api.gateway import SEND_TIMEOUT_S, Gateway
from services.api.metrics import ApiMetrics, MetricsMiddleware
from services.api.page.render import PageRenderer
from services.api.problems import MEDIA_TYPE, install_handlers
from services.api.refresher import POLL_S, Now, Refresher, utc_now
from services.api.routes import (
    alerts,
    gateway,
    health,
    incidents,
    page,
    picture,
    provinces,
    rejections,
    stream,
)
from services.api.schemas import ProblemOut
from services.api.sse import SEND_TIMEOUT_S as SSE_SEND_TIMEOUT_S
from services.core.db import make_engine, make_sessionmaker
from services.core.events import MAX_MESSAGE_BYTES
from services.core.gazetteer import load_gazetteer
from services.core.settings import Settings

log = logging.getLogger(__name__)

ROUTERS = (
    picture.router,
    provinces.router,
    incidents.router,
    gateway.router,
    alerts.router,
    rejections.router,
    stream.router,
    health.router,
    page.router,
)
FIRST_PICTURE_TIMEOUT_S = 10.0
DESCRIPTION = """Pakistan's internal security picture: provinces against their own baselines,
surge alerts with their explanation, incidents with their history.

Keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Reads are open unless
SURGEWATCH_API_KEYS is set; POST /v1/incidents needs a publisher key, acknowledging an alert and
listing rejections an operator key. Errors are RFC 9457 `application/problem+json`. Polling
clients get `ETag` and `Cache-Control: no-cache`; send `If-None-Match` for a 304."""


def create_app(
    settings: Settings,
    *,
    now: Now = utc_now,
    refresh_interval_s: float = POLL_S,
    heartbeat_s: float = 15.0,
    publish_timeout_s: float = SEND_TIMEOUT_S,
    sse_send_timeout_s: float = SSE_SEND_TIMEOUT_S,
) -> FastAPI:
    """The app; nothing connects until its lifespan starts.

    `publish_timeout_s` bounds a POST /v1/incidents wait for Kafka; `sse_send_timeout_s` is how
    long an event stream may wait for its client to take a write before it is dropped.
    """
    gazetteer = load_gazetteer(settings.gazetteer_file)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    refresher = Refresher(
        sessions, gazetteer, settings.clock, now=now, interval_s=refresh_interval_s
    )
    context = ApiContext(
        settings=settings,
        gazetteer=gazetteer,
        engine=engine,
        sessions=sessions,
        refresher=refresher,
        gateway=Gateway(settings, send_timeout_s=publish_timeout_s),
        metrics=ApiMetrics(_route_labels()),
        renderer=PageRenderer.load(),
        broadcast=Broadcast(sessions, refresher, poll_s=heartbeat_s),
        heartbeat_s=heartbeat_s,
        sse_send_timeout_s=sse_send_timeout_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        context.gateway.start()
        try:
            await asyncio.wait_for(context.refresher.refresh(), FIRST_PICTURE_TIMEOUT_S)
        except Exception as exc:
            log.warning("first picture not computed; retrying", extra={"error": repr(exc)})
        poller = asyncio.create_task(context.refresher.run(), name="api-picture-refresher")
        streams = asyncio.create_task(context.broadcast.run(), name="api-event-streams")
        try:
            yield
        finally:
            context.refresher.close()
            context.broadcast.close()
            for task in (poller, streams):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await context.gateway.stop()
            await engine.dispose()

    app = FastAPI(
        title="surgewatch",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.context = context
    install_handlers(app)
    for router in ROUTERS:
        # Plain routes on the app's router, as `@app.get` would make them: every route already
        # carries its router's tags and dependencies, and FastAPI walks an *included* router's
        # routes twice per request (~17 µs, a fifth of GET /v1/picture; docs/benchmarks.md §5).
        app.router.routes.extend(router.routes)
    app.add_middleware(BodyLimitMiddleware, limit=MAX_MESSAGE_BYTES)
    app.add_middleware(MetricsMiddleware, metrics=context.metrics)  # outermost: counts the 413s
    app.openapi = _openapi_with_problems(app)  # type: ignore[method-assign]
    return app


def _route_labels() -> list[tuple[str, str, int]]:
    """(route, method, usual status) of every route, so their series exist from the start."""
    return [
        (route.path, method, route.status_code or 200)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    ]


def _openapi_with_problems(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document with every error response declared as problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ProblemOut"] = ProblemOut.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if not (code.isdigit() and int(code) >= 400):
                        continue
                    content = response.get("content", {})
                    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                    if not content or ref.endswith("/HTTPValidationError"):
                        response["content"] = problem
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi
