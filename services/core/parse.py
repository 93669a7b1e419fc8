"""`parse(message) -> Incident | Retraction | Rejection`: the pure check of one incident event.

CloudEvents 1.0 in structured mode (the envelope is the JSON value) or binary mode (`ce_*`
headers, `data` as the value). No I/O: the clock (`now`) and the gazetteer are passed in, so the
same function serves ingest and the HTTP gateway and is tested with plain tables of cases.

A well-typed structured report (nearly every message) is decoded by `parse_fast` in one C pass;
everything else, and every rejection, comes from the field-by-field checks below.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import orjson

from services.core.events import (
    MAX_CASUALTIES,
    MAX_MESSAGE_BYTES,
    REPORTED,
    RETRACTED,
    Category,
    Incident,
    InvalidMessage,
    Parsed,
    RawMessage,
    Rejection,
    RejectReason,
    Retraction,
    Target,
)
from services.core.gazetteer import Gazetteer
from services.core.parse_fast import MAX_DEPTH, Reported, data_text, decode_reported

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2}))?$"
)
_CATEGORIES = {c.value: c for c in Category}
_TARGETS = {t.value: t for t in Target}
_FUTURE_SLACK = timedelta(days=1)
_JSON_TYPES = frozenset(("application/json", "application/cloudevents+json", "text/json"))

R = RejectReason


def parse(
    message: RawMessage,
    gazetteer: Gazetteer,
    now: datetime,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Parsed:
    """Check one message against DESIGN.md's rules; never raises for bad input."""
    reported = decode_reported(message.value, message.headers, max_bytes)
    if reported is not None:
        try:
            return _from_reported(reported, gazetteer, now)
        except InvalidMessage:
            pass  # the field-by-field checks below give the reason
    try:
        return _parse(message, gazetteer, now, max_bytes)
    except InvalidMessage as bad:
        return Rejection(bad.reason, bad.detail)


def _parse(message: RawMessage, gaz: Gazetteer, now: datetime, max_bytes: int) -> Parsed:
    value = message.value
    if value is None:
        raise InvalidMessage(R.invalid_json, "empty message (null value)")
    if len(value) > max_bytes:
        raise InvalidMessage(R.too_large, f"message is {len(value)} bytes, limit {max_bytes}")
    headers = _ce_headers(message.headers)
    body = _loads(value)
    binary = "ce_specversion" in headers
    if binary:
        envelope: dict[str, Any] = {k[3:]: v for k, v in headers.items() if k.startswith("ce_")}
        _check_content_type(headers.get("content-type"))
        envelope["data"] = body
    else:
        if not isinstance(body, dict):
            raise InvalidMessage(R.invalid_envelope, "value is not a CloudEvents JSON object")
        envelope = body
        _check_content_type(envelope.get("datacontenttype"))
    source, event_id, kind, event_time = _envelope(envelope)
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise InvalidMessage(R.invalid_envelope, "data: must be a JSON object")
    _storable(data, "data", 1)
    if kind == RETRACTED:
        return Retraction(
            source=source,
            id=_id(data),
            event_id=event_id,
            reason=_opt_str(data, "reason", 4000),
            event_time=event_time,
        )
    # The version history keeps `data` as published; what no JSON reader could get (msgspec
    # disagreeing with orjson) is kept as orjson writes it.
    text = value.decode() if binary else data_text(value)
    return _incident(
        data, text or orjson.dumps(data).decode(), source, event_id, event_time, gaz, now
    )


def _from_reported(reported: Reported, gaz: Gazetteer, now: datetime) -> Incident:
    """The incident of a message `parse_fast` type-checked: the rules it cannot know."""
    envelope, fields = reported.envelope, reported.fields
    _check_content_type(envelope.datacontenttype)
    event_time = None if envelope.time is None else _event_time(envelope.time)
    occurred_at, day = _occurred(fields.occurred_at, gaz, now)
    match = gaz.resolve(fields.province)
    category = _CATEGORIES.get(fields.category.strip().lower())
    target = None if fields.target is None else _TARGETS.get(fields.target.strip().lower())
    if match is None or category is None or (target is None and fields.target is not None):
        raise InvalidMessage(R.schema, "for the field-by-field checks to name")
    location = fields.location
    lat, lon = (None, None) if location is None else _location(location.lat, location.lon, gaz)
    return Incident(
        source=envelope.source,
        id=fields.id,
        version=fields.version,
        occurred_at=occurred_at,
        day=day,
        province=match.region.code,
        subregion=match.subregion.code if match.subregion else None,
        category=category,
        killed=fields.killed,
        injured=fields.injured,
        event_id=envelope.id,
        data=reported.data,
        district=fields.district,
        lat=lat,
        lon=lon,
        target=target,
        perpetrator=fields.perpetrator,
        summary=fields.summary,
        url=fields.url,
        event_time=event_time,
    )


def _ce_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in headers or ():
        name = key.lower()
        if not (name.startswith("ce_") or name == "content-type"):
            continue
        try:
            out[name] = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else str(raw)
        except UnicodeDecodeError:
            raise InvalidMessage(R.invalid_envelope, f"header {key}: not UTF-8") from None
    return out


def _loads(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as utf:
            raise InvalidMessage(R.invalid_json, f"not UTF-8 at byte {utf.start}") from None
        raise InvalidMessage(R.invalid_json, f"not JSON: {exc}") from None


def _check_content_type(content_type: Any) -> None:
    if content_type is None or (isinstance(content_type, str) and content_type in _JSON_TYPES):
        return
    base = str(content_type).split(";", 1)[0].strip().lower()
    if base not in ("application/json", "application/cloudevents+json", "text/json"):
        raise InvalidMessage(
            R.invalid_envelope, f"content type {base!r}: only JSON data is accepted"
        )


def _envelope(env: dict[str, Any]) -> tuple[str, str, str, datetime | None]:
    if env.get("specversion") != "1.0":
        raise InvalidMessage(
            R.invalid_envelope, f"specversion: must be '1.0' (got {env.get('specversion')!r})"
        )
    for name, limit in (("id", 256), ("source", 256), ("type", 256)):
        value = env.get(name)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise InvalidMessage(
                R.invalid_envelope, f"{name}: required, a string of 1–{limit} characters"
            )
        if "\x00" in value:
            raise InvalidMessage(R.invalid_envelope, f"{name}: contains a NUL character")
    kind = env["type"]
    if kind not in (REPORTED, RETRACTED):
        raise InvalidMessage(R.unsupported_type, f"type: {kind!r} is not {REPORTED} or {RETRACTED}")
    stamp = env.get("time")
    return env["source"], env["id"], kind, None if stamp is None else _event_time(stamp)


def _event_time(stamp: Any) -> datetime:
    # A date alone is RFC 3339 but no timestamp: fromisoformat would read it as local time.
    if not isinstance(stamp, str) or len(stamp) == 10 or not _RFC3339.match(stamp):
        raise InvalidMessage(R.invalid_envelope, "time: must be an RFC 3339 timestamp")
    return _datetime(stamp, "time", R.invalid_envelope)


def _storable(value: Any, path: str, depth: int) -> None:
    """Refuse what no store can hold: PostgreSQL rejects NUL in text and JSON, and the JSON
    encoder stops near 254 levels. Either would fail the batch's transaction on every retry."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidMessage(R.schema, f"{path[:200]}: contains a NUL character")
    elif isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise InvalidMessage(R.schema, f"{path[:200]}: nested deeper than {MAX_DEPTH} levels")
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in pairs:
            if isinstance(key, str) and "\x00" in key:
                raise InvalidMessage(R.schema, f"{path[:200]}: a key contains a NUL character")
            inner = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
            _storable(item, inner, depth + 1)


def _incident(
    data: dict[str, Any],
    text: str,
    source: str,
    event_id: str,
    event_time: datetime | None,
    gaz: Gazetteer,
    now: datetime,
) -> Incident:
    incident_id = _id(data)
    version = _int(data, "version", default=1, low=1, high=2**31 - 1)
    occurred_at, day = _occurred(data.get("occurred_at"), gaz, now)
    province_name = data.get("province")
    if not isinstance(province_name, str) or not province_name.strip():
        raise InvalidMessage(R.schema, "data.province: required, a string")
    match = gaz.resolve(province_name)
    if match is None:
        raise InvalidMessage(
            R.unknown_province, f"data.province: {province_name[:100]!r} is not in the gazetteer"
        )
    lat, lon = _location_of(data.get("location"), gaz)
    category: Category | None = _enum(data, "category", _CATEGORIES)
    if category is None:
        raise InvalidMessage(R.schema, "data.category: required")
    target: Target | None = _enum(data, "target", _TARGETS)
    return Incident(
        source=source,
        id=incident_id,
        version=version,
        occurred_at=occurred_at,
        day=day,
        province=match.region.code,
        subregion=match.subregion.code if match.subregion else None,
        category=category,
        killed=_int(data, "killed", default=0, low=0, high=MAX_CASUALTIES),
        injured=_int(data, "injured", default=0, low=0, high=MAX_CASUALTIES),
        event_id=event_id,
        data=text,
        district=_opt_str(data, "district", 100),
        lat=lat,
        lon=lon,
        target=target,
        perpetrator=_opt_str(data, "perpetrator", 100),
        summary=_opt_str(data, "summary", 4000),
        url=_opt_str(data, "url", 2048),
        event_time=event_time,
    )


def _id(data: dict[str, Any]) -> str:
    value = data.get("id")
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise InvalidMessage(R.schema, "data.id: required, a string of 1–128 characters")
    return value


def _opt_str(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage(R.schema, f"data.{name}: must be a string")
    if len(value) > limit:
        raise InvalidMessage(R.schema, f"data.{name}: at most {limit} characters ({len(value)})")
    return value


def _int(data: dict[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidMessage(R.schema, f"data.{name}: must be an integer")
    if not low <= value <= high:
        raise InvalidMessage(R.out_of_range, f"data.{name}: must be {low}–{high} (got {value})")
    return value


def _enum(data: dict[str, Any], name: str, allowed: dict[str, Any]) -> Any:
    """The member of `allowed` (value → enum member) that `data[name]` names, or None."""
    value = data.get(name)
    if value is None:
        return None
    member = allowed.get(value.strip().lower()) if isinstance(value, str) else None
    if member is None:
        shown = repr(value)[:60]
        raise InvalidMessage(R.schema, f"data.{name}: {shown} is not one of {', '.join(allowed)}")
    return member


def _occurred(raw: Any, gaz: Gazetteer, now: datetime) -> tuple[datetime, date]:
    if not isinstance(raw, str) or not _RFC3339.match(raw):
        raise InvalidMessage(
            R.schema, "data.occurred_at: required, an RFC 3339 date or date-time with offset"
        )
    if len(raw) == 10:
        day = _date(raw)
        at = _convert(datetime.combine(day, time(), gaz.timezone), UTC, raw, "data.occurred_at")
    else:
        at = _datetime(raw, "data.occurred_at", R.schema)
        day = _convert(at, gaz.timezone, raw, "data.occurred_at").date()
    if at > now + _FUTURE_SLACK:
        raise InvalidMessage(
            R.out_of_range, f"data.occurred_at: {raw} is more than a day in the future"
        )
    return at, day


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidMessage(R.schema, f"data.occurred_at: {raw!r} is not a real date") from None


def _datetime(raw: str, name: str, reason: RejectReason) -> datetime:
    try:
        at = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise InvalidMessage(reason, f"{name}: {raw!r} is not a real date-time") from None
    return _convert(at, UTC, raw, name, reason)


def _convert(
    at: datetime, zone: tzinfo, raw: str, name: str, reason: RejectReason = R.schema
) -> datetime:
    try:
        return at.astimezone(zone)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 has no UTC equivalent in Python
        raise InvalidMessage(reason, f"{name}: {raw!r} is outside the supported range") from None


def _location_of(value: Any, gaz: Gazetteer) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise InvalidMessage(R.schema, "data.location: must be an object {lat, lon}")
    lat, lon = value.get("lat"), value.get("lon")
    for name, coord in (("lat", lat), ("lon", lon)):
        if not isinstance(coord, int | float) or isinstance(coord, bool):
            raise InvalidMessage(R.schema, f"data.location.{name}: required, a number")
    assert isinstance(lat, int | float) and isinstance(lon, int | float)
    return _location(lat, lon, gaz)


def _location(lat: float, lon: float, gaz: Gazetteer) -> tuple[float, float]:
    if not gaz.bounding_box.contains(lat, lon):
        raise InvalidMessage(
            R.out_of_range, f"data.location: ({lat}, {lon}) is outside {gaz.country}"
        )
    return float(lat), float(lon)
