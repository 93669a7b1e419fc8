"""CloudEvents envelopes for the incidents we publish: structured mode, deterministic ids.

The envelope id is a UUIDv5 of (source, incident id, version, type), so replaying a file twice
publishes the same events, and the Kafka key is f"{source}\\x1f{id}" so every version of an
incident lands on one partition, in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from services.core.events import REPORTED, RETRACTED

CONTENT_TYPE = "application/cloudevents+json"
HEADERS = [("content-type", CONTENT_TYPE.encode())]
_NAMESPACE = uuid.UUID("5b0f4d2e-8c1a-4f61-9a53-2f0c3e7d9b10")  # surgewatch feeds, fixed forever


def event_id(source: str, incident_id: str, version: object, kind: str) -> str:
    """The deterministic CloudEvents id of one version (or the retraction) of an incident."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((source, incident_id, str(version), kind))))


def reported(source: str, data: dict[str, Any], time: datetime | None = None) -> dict[str, Any]:
    """An `incident.reported` envelope around `data` (which must carry `id`)."""
    id_ = event_id(source, str(data.get("id", "")), data.get("version", 1), REPORTED)
    return _envelope(REPORTED, source, data, id_, time)


def retracted(
    source: str, incident_id: str, reason: str | None = None, time: datetime | None = None
) -> dict[str, Any]:
    """An `incident.retracted` envelope for (`source`, `incident_id`)."""
    data: dict[str, Any] = {"id": incident_id}
    if reason:
        data["reason"] = reason
    return _envelope(RETRACTED, source, data, event_id(source, incident_id, "-", RETRACTED), time)


def wrap(
    obj: dict[str, Any], source: str, *, retract: bool = False, time: datetime | None = None
) -> dict[str, Any]:
    """A CloudEvent as it is (it has `specversion`), or a bare `data` object wrapped in one.

    Values are kept as given (a numeric id stays a number) so that `parse` judges them.
    """
    if "specversion" in obj:
        return obj
    if retract:
        data: dict[str, Any] = {k: obj[k] for k in ("id", "reason") if k in obj}
        id_ = event_id(source, str(obj.get("id", "")), "-", RETRACTED)
        return _envelope(RETRACTED, source, data, id_, time)
    return reported(source, obj, time)


def key(event: dict[str, Any]) -> bytes:
    """The Kafka key: f"{source}\\x1f{data.id}" (empty parts where the event lacks them)."""
    data = event.get("data")
    incident_id = data.get("id", "") if isinstance(data, dict) else ""
    return f"{event.get('source', '')}\x1f{incident_id}".encode()


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def _envelope(
    kind: str, source: str, data: dict[str, Any], id_: str, time: datetime | None
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": id_,
        "source": source,
        "type": kind,
        "datacontenttype": "application/json",
    }
    if time is not None:
        envelope["time"] = time.astimezone(UTC).replace(microsecond=0).isoformat()
    envelope["data"] = data
    return envelope
