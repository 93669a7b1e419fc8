"""POST /v1/incidents: the HTTP gateway for publishers that cannot speak Kafka.

The event is checked by the same `parse` ingest uses, then published unchanged to `incidents`
(key = source + US + id, as every publisher keys it); 202 once Kafka has acknowledged it.

The body's size is bounded app-wide (`BodyLimitMiddleware`, at the contract's 64 KiB), and read
only after the publisher key was checked. When Kafka took the record but did not acknowledge it
in time the answer is 504: the outcome is unknown (it may be stored later), and retrying is safe
because ingest recognises the same (source, id, version) as a duplicate.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.deps import ContextDep, PublisherAccess
from services.api.gateway import (
    BINARY_DATA,
    STRUCTURED,
    KafkaUnavailable,
    PublishUnconfirmed,
    media_type,
    raw_message,
)
from services.api.problems import Problem, documented
from services.api.schemas import AcceptedOut
from services.core.events import REPORTED, RETRACTED, Incident, Rejection
from services.core.parse import parse

router = APIRouter(tags=["incidents"])

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "a CloudEvents 1.0 envelope whose data is an incident (DESIGN.md)",
    "required": ["specversion", "id", "source", "type", "data"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string"},
        "source": {"type": "string"},
        "type": {"type": "string", "enum": [REPORTED, RETRACTED]},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string"},
        "data": {"type": "object"},
    },
}
_REQUEST_BODY = {
    "required": True,
    "description": "Structured mode: the envelope as application/cloudevents+json. Binary mode: "
    "ce-specversion, ce-id, ce-source, ce-type headers and the data as application/json.",
    "content": {
        STRUCTURED: {"schema": _EVENT_SCHEMA},
        "application/json": {"schema": {"type": "object"}},
    },
}


RETRY_AFTER_S = 5
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before sending the same event again",
        "schema": {"type": "integer"},
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **documented(401, 403, 413, 415, 422),
    503: {
        "description": "Not published: Kafka is not configured, not reachable or refused the "
        "event. Where retrying can help, Retry-After says when.",
        "headers": _RETRY_AFTER,
    },
    504: {
        "description": "Outcome unknown: Kafka took the event but did not acknowledge it in "
        "time, so it may still be stored. Retrying is safe: the same (source, id, version) is "
        "recognised as a duplicate.",
        "headers": _RETRY_AFTER,
    },
}


@router.post(
    "/v1/incidents",
    status_code=202,
    response_model=AcceptedOut,
    dependencies=[PublisherAccess],
    responses=_RESPONSES,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="Publish one incident event (publisher key required)",
)
async def post_incident(request: Request, context: ContextDep) -> JSONResponse:
    settings = context.settings
    if not context.gateway.configured:
        raise Problem(503, "Kafka is not configured on this api", kind="kafka-unavailable")
    kind = media_type(request.headers.get("content-type"))
    if kind not in (STRUCTURED, *BINARY_DATA):
        raise Problem(
            415,
            f"content type {kind or 'none'!r}: send {STRUCTURED} or, in binary mode, "
            "application/json with ce-* headers",
            kind="unsupported-media-type",
        )
    body = await request.body()
    message = raw_message(body, request.headers.items())
    parsed = parse(message, context.gazetteer, context.refresher.now())
    if isinstance(parsed, Rejection):
        raise Problem(
            422, parsed.detail, kind="rejected-event", title="Event rejected", reason=parsed.reason
        )
    # Structured events go on as sent; binary ones keep their ce_* headers (the Kafka binding).
    headers = message.headers if any(k == "ce_specversion" for k, _ in message.headers) else ()
    headers = tuple(headers) or (("content-type", STRUCTURED.encode()),)
    try:
        await context.gateway.publish(
            settings.topic_incidents, f"{parsed.source}\x1f{parsed.id}".encode(), body, headers
        )
    except KafkaUnavailable as exc:
        raise Problem(
            503,
            f"{exc}: the event was not published",
            kind="kafka-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    except PublishUnconfirmed as exc:
        raise Problem(
            504,
            f"Kafka did not acknowledge the event in time ({exc}): the outcome is unknown and it "
            "may still be stored. Retrying is safe: the same (source, id, version) is recognised "
            "as a duplicate.",
            kind="publish-unconfirmed",
            title="Publish outcome unknown",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    accepted = AcceptedOut(
        id=parsed.event_id,
        source=parsed.source,
        incident_id=parsed.id,
        type=REPORTED if isinstance(parsed, Incident) else RETRACTED,
        topic=settings.topic_incidents,
    )
    return JSONResponse(accepted.model_dump(), status_code=202)
