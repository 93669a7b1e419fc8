"""Opaque keyset cursors: the sort key of the last item served, as URL-safe base64 JSON.

A page holds the items strictly after the cursor in the listing's order, so rows inserted while a
client pages never shift what it has yet to see: nothing is repeated and nothing that existed
when it started is skipped.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson

from services.api.problems import Problem

INT64_MAX = 2**63 - 1


def encode(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def _decode(cursor: str, arity: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad() from None
    if not isinstance(key, list) or len(key) != arity:
        raise _bad()
    return key


def _bad() -> Problem:
    return Problem(400, "cursor: not a cursor this listing issued", kind="bad-cursor")


def decode_seq(cursor: str) -> int:
    """A cursor over a single integer key (alerts by id, rejections by seq)."""
    (value,) = _decode(cursor, 1)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64_MAX:
        raise _bad()
    return value


def decode_incident(cursor: str) -> tuple[datetime, str, str]:
    """A cursor over (occurred_at, source, id)."""
    at, source, id_ = _decode(cursor, 3)
    if not (isinstance(at, str) and isinstance(source, str) and isinstance(id_, str)):
        raise _bad()
    if "\x00" in source + id_:
        raise _bad()
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise _bad() from None
    if when.tzinfo is None:
        raise _bad()
    return when.astimezone(UTC), source, id_
