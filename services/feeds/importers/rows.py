"""The shared `Row → event` helper of the importers, and the small cell converters they share.

Importers only translate: they turn a row into a `data` object with our field names and leave
every rule of the contract to `parse` (a cell that is not a number stays a string, so parse
rejects it with its own message). What only an importer can know — a row with too few cells, a
date it cannot read — it reports as a `Skip` with the line number.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from services.feeds import envelope
from services.feeds.items import Candidate, Skip

log = logging.getLogger(__name__)

_INTEGER = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_UNKNOWN = {"", "unknown", "n/a", "na", "none", "null"}


class FileFormatError(ValueError):
    """The file as a whole cannot be read as this format (a required column is missing, say)."""


class RowError(Exception):
    """One row cannot become an event; raised inside an importer, turned into a `Skip`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def to_candidate(
    line: int,
    source: str,
    data: dict[str, Any],
    *,
    time: datetime | None = None,
    notes: tuple[str, ...] = (),
) -> Candidate:
    """Row → event: drop empty fields, wrap `data` in an `incident.reported` envelope."""
    kept = {k: v for k, v in data.items() if v is not None}
    return Candidate(line, envelope.reported(source, kept, time), notes)


Records = Iterator[tuple[int, dict[str, str]] | Skip]


def each_row(
    records: Records, make: Callable[[int, dict[str, str]], Candidate | Skip]
) -> Iterator[Candidate | Skip]:
    """`make` applied to every readable row; a row it refuses (`RowError`) becomes a `Skip`."""
    for record in records:
        if isinstance(record, Skip):
            yield record
            continue
        line, row = record
        try:
            yield make(line, row)
        except RowError as bad:
            yield Skip(line, bad.reason, bad.detail)


def decode(data: bytes, what: str) -> str:
    """UTF-8 (with or without BOM); else Windows-1252, as spreadsheet exports often are."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        log.warning("%s is not UTF-8 (byte %d): read as Windows-1252", what, exc.start)
        return data.decode("cp1252", errors="replace")


def csv_rows(
    text: str, required: tuple[str, ...], what: str
) -> Iterator[tuple[int, dict[str, str]] | Skip]:
    """(line, row) for each CSV record after the header; short or long rows become `Skip`s.

    Raises `FileFormatError` at once (not lazily) if a required column is missing.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise FileFormatError(f"{what}: missing column(s) {', '.join(missing)}")
    return _records(reader, header)


def _records(reader: Any, header: list[str]) -> Iterator[tuple[int, dict[str, str]] | Skip]:
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield Skip(
                line,
                "malformed_row",
                f"{len(cells)} cell(s) where the header has {len(header)} columns",
            )
            continue
        yield line, dict(zip(header, cells, strict=True))


def cell(row: dict[str, str], name: str) -> str | None:
    """The stripped cell, or None if it is absent or empty."""
    value = row.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def known(row: dict[str, str], name: str) -> str | None:
    """Like `cell`, but placeholders such as "Unknown" also count as empty."""
    value = cell(row, name)
    return None if value is None or value.casefold() in _UNKNOWN else value


def integer(value: str | None) -> int | str | None:
    """An integer cell ("3", "3.0") as int; anything else is passed on for parse to judge."""
    if value is None:
        return None
    return int(float(value)) if _INTEGER.match(value) else value


def location(lat: str | None, lon: str | None) -> dict[str, Any] | None:
    """{lat, lon} as numbers where they parse; None if both cells are empty."""
    if lat is None and lon is None:
        return None
    return {"lat": _number(lat), "lon": _number(lon)}


def clip(value: str | None, limit: int) -> str | None:
    """Long free text cut to the contract's limit (a summary, a place name) rather than lost."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def _number(value: str | None) -> float | str | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value
