"""Our CSV: one incident per row, columns named as the contract's `data` fields.

Columns: id, version, occurred_at, province, district, lat, lon, category, target, perpetrator,
killed, injured, summary, url. id, occurred_at, province and category must be in the header; an
empty cell means the field is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from services.feeds.importers.rows import cell, csv_rows, decode, integer, location, to_candidate
from services.feeds.items import Item, Skip

REQUIRED = ("id", "occurred_at", "province", "category")
TEXT = ("id", "occurred_at", "province", "district", "category", "target", "perpetrator")
TEXT_LONG = ("summary", "url")


def read(data: bytes, source: str) -> Iterator[Item]:
    rows = csv_rows(decode(data, "CSV file"), REQUIRED, "CSV file")
    return _events(rows, source)


def _events(rows: Iterator[tuple[int, dict[str, str]] | Skip], source: str) -> Iterator[Item]:
    for record in rows:
        if isinstance(record, Skip):
            yield record
            continue
        line, row = record
        data: dict[str, Any] = {name: cell(row, name) for name in (*TEXT, *TEXT_LONG)}
        data["version"] = integer(cell(row, "version"))
        data["killed"] = integer(cell(row, "killed"))
        data["injured"] = integer(cell(row, "injured"))
        data["location"] = location(cell(row, "lat"), cell(row, "lon"))
        yield to_candidate(line, source, data)
