"""Incident events for tests, in both CloudEvents modes."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

_ids = itertools.count()


def data(id_: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": id_,
        "occurred_at": "2024-03-01",
        "province": "Balochistan",
        "category": "bombing",
    }
    doc.update(fields)
    return doc


def envelope(
    payload: dict[str, Any], *, source: str = "test/desk", type_: str = "incident.reported"
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt-{next(_ids)}",
        "source": source,
        "type": type_,
        "datacontenttype": "application/json",
        "data": payload,
    }


def structured(id_: str, *, source: str = "test/desk", **fields: Any) -> bytes:
    """A structured-mode `incident.reported` message value."""
    return orjson.dumps(envelope(data(id_, **fields), source=source))


def retraction(id_: str, *, source: str = "test/desk", reason: str | None = None) -> bytes:
    payload: dict[str, Any] = {"id": id_}
    if reason:
        payload["reason"] = reason
    return orjson.dumps(envelope(payload, source=source, type_="incident.retracted"))


def binary(
    id_: str, *, source: str = "test/desk", **fields: Any
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A binary-mode message: (value, headers)."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"evt-{next(_ids)}".encode()),
        ("ce_source", source.encode()),
        ("ce_type", b"incident.reported"),
        ("content-type", b"application/json"),
    ]
    return orjson.dumps(data(id_, **fields)), headers
