"""Query parameters several routes share, and their checks (bad ones answer 4xx, never 5xx)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any

from fastapi import Query
from pydantic import PlainValidator, WithJsonSchema

from services.api.problems import Problem
from services.core.gazetteer import Gazetteer, Match

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TICK = timedelta(microseconds=1)
# PostgreSQL text cannot hold NUL: refuse it up front rather than let the driver fail.
NO_NUL = r"^[^\x00]*$"


def _instant(value: Any) -> date | datetime:
    """An RFC 3339 date (a whole day) or date-time; a date-time without offset is UTC."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date or date-time")
    text = value.strip()
    try:
        if _DATE.match(text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 date or date-time") from None


Instant = Annotated[
    date | datetime,
    PlainValidator(_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        }
    ),
]
SinceQuery = Annotated[
    Instant | None, Query(description="from this date (whole day) or date-time, inclusive")
]
UntilQuery = Annotated[
    Instant | None, Query(description="up to this date (whole day) or date-time, inclusive")
]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="items per page")]
CursorQuery = Annotated[
    str | None, Query(max_length=2048, description="next_cursor of the previous page")
]


def _start(value: date | datetime, tz: tzinfo) -> datetime | None:
    """The first instant of `value` in UTC; None where that lies beyond what datetime holds."""
    try:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return datetime.combine(value, time(), tz).astimezone(UTC)
    except OverflowError:
        return None


def instant_range(
    since: date | datetime | None, until: date | datetime | None, tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """[since, until) in UTC; a date `until` includes its whole day (in the gazetteer's zone).

    A bound at the very edge of the calendar (year 1, year 9999) means no bound at all.
    """
    low = None if since is None else _start(since, tz)
    high = None
    if isinstance(until, datetime):
        end = _start(until, tz)
        high = None if end is None or end == datetime.max.replace(tzinfo=UTC) else end + _TICK
    elif until is not None and until < date.max:
        high = _start(until + timedelta(days=1), tz)
    if low is not None and high is not None and low >= high:
        raise Problem(422, "since: must not be after until", kind="bad-range")
    return low, high


def resolve_region(gazetteer: Gazetteer, name: str, *, status: int = 404) -> Match:
    """The region (and subregion) a code or alias names; 404 (or `status`) if none."""
    match = gazetteer.resolve(name)
    if match is None:
        raise Problem(
            status,
            f"province: {name[:100]!r} is not a code or alias in the gazetteer",
            kind="unknown-province",
        )
    return match
