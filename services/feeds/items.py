"""What a feed yields before publishing: a candidate event, or a row skipped with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Candidate:
    """An event built from input line `line`; `notes` are counted in the summary if it is sent."""

    line: int
    event: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    """Input line `line` gave no event: `reason` is a short code, `detail` says what is wrong."""

    line: int
    reason: str
    detail: str


Item = Candidate | Skip


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A checked event, ready for Kafka."""

    line: int
    key: bytes
    value: bytes
