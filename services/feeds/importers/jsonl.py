"""Our JSON lines: one CloudEvent per line, or one bare `data` object per line (wrapped)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from services.feeds import envelope
from services.feeds.items import Candidate, Item, Skip


def read(data: bytes, source: str) -> Iterator[Item]:
    """A line with `specversion` is published as it is; any other object becomes its `data`.

    Blank lines are ignored. `source` only applies to wrapped lines (a CloudEvent keeps its own).
    """
    for line, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield Skip(line, "invalid_json", str(exc))
            continue
        if not isinstance(obj, dict):
            yield Skip(line, "invalid_envelope", f"a JSON {type(obj).__name__}, not an object")
            continue
        yield Candidate(line, envelope.wrap(obj, source))
