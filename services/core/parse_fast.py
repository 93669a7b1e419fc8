"""The fast path of `parse`: a well-formed `incident.reported` in structured mode, decoded and
type-checked in one pass by msgspec (C), for the ~20 µs of Python the field-by-field checks cost.

It only ever says "this message is well-formed, here are its fields" or "not sure": anything
unusual (binary mode, a retraction, a wrong type, a length or range off the contract, an escaped
NUL, deep nesting, JSON orjson would read differently) returns None and `parse` takes the
field-by-field path, which alone decides rejections and their reasons. The rules that need the
gazetteer or the clock (province, time zone, bounding box, not in the future) stay in `parse` and
run for both paths. tests/core/test_parse.py runs every case through both paths.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import Meta, Struct

from services.core.events import MAX_CASUALTIES, REPORTED

MAX_DEPTH = 32  # levels of nesting in `data` (itself level 1)


def _text(longest: int, shortest: int = 0) -> Any:
    return Annotated[str, Meta(min_length=shortest, max_length=longest)]


def _count(low: int, high: int) -> Any:
    return Annotated[int, Meta(ge=low, le=high)]


class Location(Struct, frozen=True, gc=False):
    lat: float
    lon: float


class ReportedData(Struct, frozen=True, gc=False):
    """`data` of incident.reported, as DESIGN.md types it (unknown fields are allowed)."""

    id: _text(128, 1)  # type: ignore[valid-type]
    occurred_at: str
    province: str
    category: str
    version: _count(1, 2**31 - 1) = 1  # type: ignore[valid-type]
    killed: _count(0, MAX_CASUALTIES) = 0  # type: ignore[valid-type]
    injured: _count(0, MAX_CASUALTIES) = 0  # type: ignore[valid-type]
    district: _text(100) | None = None  # type: ignore[valid-type]
    location: Location | None = None
    target: str | None = None
    perpetrator: _text(100) | None = None  # type: ignore[valid-type]
    summary: _text(4000) | None = None  # type: ignore[valid-type]
    url: _text(2048) | None = None  # type: ignore[valid-type]


class ReportedEnvelope(Struct, frozen=True, gc=False):
    specversion: Literal["1.0"]
    id: _text(256, 1)  # type: ignore[valid-type]
    source: _text(256, 1)  # type: ignore[valid-type]
    type: Literal["incident.reported"]
    data: msgspec.Raw
    time: str | None = None
    datacontenttype: str | None = None


class Reported(Struct, frozen=True, gc=False):
    """A structured-mode incident.reported whose every field has the contract's type."""

    envelope: ReportedEnvelope
    fields: ReportedData
    data: str  # `data` as published (JSON text): what the version history keeps


class Wrapped(Struct, frozen=True, gc=False):
    """Any structured envelope, for the text of its `data`."""

    data: msgspec.Raw


_ENVELOPE = msgspec.json.Decoder(ReportedEnvelope)
_DATA = msgspec.json.Decoder(ReportedData)
_NUL = b"\\u0000"
_REPORTED = REPORTED.encode()


def decode_reported(value: bytes | None, headers: Any, max_bytes: int) -> Reported | None:
    """The message's fields if it is a well-typed structured incident.reported; else None."""
    if value is None or len(value) > max_bytes or _REPORTED not in value:
        return None
    # Conservative byte checks standing in for the walk over `data`: no escaped NUL anywhere,
    # and fewer brackets in the whole message than the nesting limit.
    if _NUL in value or value.count(b"{") + value.count(b"[") > MAX_DEPTH:
        return None
    for key, raw in headers or ():
        name = key.lower()
        if name.startswith("ce_"):
            return None  # binary mode
        if name == "content-type" and isinstance(raw, bytes | bytearray):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
    try:
        envelope = _ENVELOPE.decode(value)
        fields = _DATA.decode(envelope.data)
        # orjson must read the whole message too, exactly as the checks would: msgspec skips
        # unknown fields without looking at them, orjson refuses e.g. 1e400 anywhere.
        orjson.loads(value)
        data = bytes(envelope.data).decode()
    except Exception:  # msgspec's errors, orjson's, UnicodeDecodeError: the checks will say
        return None
    return Reported(envelope, fields, data)


_WRAPPED = msgspec.json.Decoder(Wrapped)


def data_text(value: bytes) -> str | None:
    """The text of a structured envelope's `data` as published, or None if msgspec cannot
    read the message (its `data` is then re-encoded by the caller)."""
    try:
        return bytes(_WRAPPED.decode(value).data).decode()
    except Exception:
        return None
