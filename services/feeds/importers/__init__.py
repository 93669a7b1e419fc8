"""File importers: one module per format, each `read(data, source) -> Iterator[Item]`.

`read` checks the header at once (raising `FileFormatError`) and then yields, row by row, a
`Candidate` event or a `Skip` with the line number and reason. Nothing here talks to Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from services.feeds.importers import acled, csv, gtd, jsonl
from services.feeds.importers.rows import FileFormatError
from services.feeds.items import Item

Importer = Callable[[bytes, str], Iterator[Item]]

FORMATS: dict[str, Importer] = {
    "jsonl": jsonl.read,
    "csv": csv.read,
    "gtd": gtd.read,
    "acled": acled.read,
}
DEFAULT_SOURCES = {
    "jsonl": "surgewatch/jsonl",
    "csv": "surgewatch/csv",
    "gtd": "gtd",
    "acled": "acled",
}

__all__ = ["DEFAULT_SOURCES", "FORMATS", "FileFormatError", "read_file"]


def read_file(path: Path, fmt: str, source: str | None = None) -> Iterator[Item]:
    """The items of `path` read as `fmt` (raises OSError, FileFormatError before any item)."""
    return FORMATS[fmt](path.read_bytes(), source or DEFAULT_SOURCES[fmt])
