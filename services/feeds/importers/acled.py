"""The ACLED export: one event per row; an edit keeps `event_id_cnty` and changes `timestamp`.

Versions: `version` is the row's unix `timestamp`. It grows with every edit, so it stays monotonic
across separate exports (a rank within one file would not), and it fits the contract's
1…2^31−1 until 2038. Two rows of one event with the same timestamp are the same version (ingest
counts the second as a duplicate). The envelope's `time` is that timestamp too.
Category comes from sub_event_type, then event_type (mappings/acled.yaml); types that are not
security incidents (protests, arrests …) are skipped as `not_an_incident`. ACLED has no injured
count. admin1 goes through the gazetteer; admin2 is the district.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from services.feeds.importers import tables
from services.feeds.importers.rows import (
    RowError,
    cell,
    clip,
    csv_rows,
    decode,
    each_row,
    integer,
    location,
    to_candidate,
)
from services.feeds.items import Item

REQUIRED = (
    "event_id_cnty", "event_date", "admin1", "admin2", "event_type", "sub_event_type", "actor1",
    "fatalities", "latitude", "longitude", "notes", "timestamp",
)  # fmt: skip
DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d %b %Y")
MAX_VERSION = 2**31 - 1


def read(data: bytes, source: str) -> Iterator[Item]:
    rows = csv_rows(decode(data, "ACLED file"), REQUIRED, "ACLED file")
    table = tables.load("acled")
    return each_row(rows, lambda line, row: _event(line, row, source, table))


def _event(line: int, row: dict[str, str], source: str, table: dict[str, Any]) -> Item:
    country = cell(row, "country")
    if country is not None and country != table["country"]:
        raise RowError("other_country", f"country is {country!r}")
    category = _category(row, table["categories"])
    stamp = _timestamp(row)
    civilians = table["targets"]["civilian_targeting"].get(cell(row, "civilian_targeting"))
    data = {
        "id": cell(row, "event_id_cnty"),
        "version": stamp,
        "occurred_at": _date(row).isoformat(),
        "province": cell(row, "admin1"),
        "district": clip(cell(row, "admin2"), 100),
        "location": location(cell(row, "latitude"), cell(row, "longitude")),
        "category": category,
        "target": civilians,
        "perpetrator": clip(cell(row, "actor1"), 100),
        "killed": integer(cell(row, "fatalities")),
        "summary": clip(cell(row, "notes"), 4000),
    }
    return to_candidate(line, source, data, time=datetime.fromtimestamp(stamp, UTC))


def _category(row: dict[str, str], categories: dict[str, dict[str, str | None]]) -> str:
    for column in ("sub_event_type", "event_type"):
        value = cell(row, column)
        if value in categories[column]:
            mapped = categories[column][value]
            if mapped is None:
                raise RowError("not_an_incident", f"{column} {value!r} is not a security incident")
            return mapped
    raise RowError(
        "unmapped_category",
        f"event_type {cell(row, 'event_type')!r} / sub_event_type {cell(row, 'sub_event_type')!r}"
        " is not in mappings/acled.yaml",
    )


def _timestamp(row: dict[str, str]) -> int:
    stamp = integer(cell(row, "timestamp"))
    if not isinstance(stamp, int) or not 1 <= stamp <= MAX_VERSION:
        raise RowError("bad_timestamp", f"timestamp {stamp!r} is not a unix time up to 2^31−1")
    return stamp


def _date(row: dict[str, str]) -> date:
    raw = cell(row, "event_date") or ""
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise RowError("bad_date", f"event_date {raw!r} is not YYYY-MM-DD or '30 January 2023'")
