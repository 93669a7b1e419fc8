"""GET /healthz (liveness), /readyz (database and Kafka reachable), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.api.deps import ApiContext, ContextDep
from services.api.schemas import Check, Liveness, Readiness

router = APIRouter(tags=["operations"])

DB_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=Liveness, summary="Liveness: the process answers")
async def healthz() -> Liveness:
    return Liveness(status="ok")


async def _database(context: ApiContext) -> Check:
    try:
        async with asyncio.timeout(DB_TIMEOUT_S), context.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return Check(ok=False, detail=f"unreachable: {type(exc).__name__}")
    return Check(ok=True, detail="reachable")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is unreachable"}},
    summary="Readiness: the database and Kafka answer (Kafka unset counts as ready)",
)
async def readyz(context: ContextDep) -> JSONResponse:
    kafka_ok, kafka_detail = await context.gateway.check()
    checks = {
        "database": await _database(context),
        "kafka": Check(ok=kafka_ok, detail=kafka_detail),
    }
    ready = all(c.ok for c in checks.values())
    body = Readiness(status="ready" if ready else "unready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
    },
    summary="Prometheus metrics",
)
async def metrics(context: ContextDep) -> Response:
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)
