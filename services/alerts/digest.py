"""Digests of the counts a history was evaluated on: how alerts finds a change no notice reported.

Under the event-time clock a province's stored history is right only while the counts it was
evaluated on stay what they were. Ingest announces each change with a notice, but a notice can
be lost (ingest crashing between its DB commit and its publish) or be read by nobody (a change
made while alerts is stopped). So each rule's progress row keeps, beside `evaluated_through`, a
digest of the province's daily totals up to that day: one short hash per block of `BLOCK_DAYS`
days, blocks aligned on the proleptic ordinal so they never move. A clock tick (and start-up)
recomputes the digest from the database and compares: the first block that differs is where to
re-evaluate from, as a notice for that block's first day would. Starting earlier than the
changed day itself replays unchanged days to the very transitions already stored (they are kept,
not rewritten), so the history is the one the notice would have produced.

Invariant: a stored block hash is never newer than the data the history was evaluated on — it is
computed from the rows the evaluation read, in the evaluation's transaction, or kept from an
earlier evaluation. A mismatch can therefore cause a needless re-evaluation, never hide a change.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

DayRow = tuple[date, int, int, int]  # (day, incidents, killed, injured), summed per day
Blocks = dict[int, str]  # block number → hash of its non-zero days
BLOCK_DAYS = 28
_DAY = struct.Struct("<qqqq")


def block_of(day: date) -> int:
    return day.toordinal() // BLOCK_DAYS


def block_start(block: int) -> date:
    return date.fromordinal(max(1, block * BLOCK_DAYS))


def floor_to_block(day: date) -> date:
    """The first day of `day`'s block."""
    return block_start(block_of(day))


def block_hashes(rows: Iterable[DayRow], through: date, since: date | None = None) -> Blocks:
    """Per block, a hash of its days from `since` through `through` with a non-zero total.

    A day with all three totals at zero hashes as an absent one (a retraction may leave a row of
    zeros behind): the series reads both as zero. A day listed twice is summed.
    """
    days: dict[date, tuple[int, int, int]] = {}
    for day, incidents, killed, injured in rows:
        if day > through or (since is not None and day < since):
            continue
        i, k, j = days.get(day, (0, 0, 0))
        days[day] = (i + incidents, k + killed, j + injured)
    grouped: dict[int, list[bytes]] = {}
    for day in sorted(days):
        totals = days[day]
        if totals != (0, 0, 0):
            grouped.setdefault(block_of(day), []).append(_DAY.pack(day.toordinal(), *totals))
    return {
        block: hashlib.blake2b(b"".join(packed), digest_size=8).hexdigest()
        for block, packed in grouped.items()
    }


@dataclass(frozen=True)
class DataDigest:
    """The block hashes of a province's daily totals up to a rule's `evaluated_through`."""

    blocks: Mapping[int, str]

    def to_json(self) -> dict[str, Any]:
        return {"block_days": BLOCK_DAYS, "blocks": {str(b): h for b, h in self.blocks.items()}}

    @classmethod
    def from_json(cls, data: Any) -> DataDigest | None:
        """The stored digest, or None if there is none or it is of another shape (unknown)."""
        if not isinstance(data, dict) or data.get("block_days") != BLOCK_DAYS:
            return None
        blocks = data.get("blocks")
        if not isinstance(blocks, dict):
            return None
        try:
            return cls({int(b): str(h) for b, h in blocks.items()})
        except ValueError:
            return None


def merged(
    old: DataDigest | None, fresh: Blocks, since: date, first: date | None
) -> DataDigest | None:
    """The digest after an evaluation that read every day from `since` on: `fresh` holds the
    `block_hashes` of what it read (up to the day it evaluated through).

    `since` must start a block. Blocks before it keep their hashes from `old`; without `old`
    they are unknown — None — unless the province has no data before `since` (`first`, its
    first day). A stored None makes the next comparison re-evaluate from the first day.
    """
    if since != floor_to_block(since):
        raise ValueError(f"{since} does not start a block")
    if old is None:
        if first is not None and first < since:
            return None
        return DataDigest(dict(fresh))
    kept = {b: h for b, h in old.blocks.items() if b < block_of(since)}
    return DataDigest({**kept, **fresh})


def first_change(stored: DataDigest | None, current: Blocks) -> date | None:
    """The first day of the earliest block where `current` differs from `stored`; None if none.

    An unknown digest (None) differs from any data: it yields the first block holding some.
    """
    if stored is None:
        return block_start(min(current)) if current else None
    differ = [
        b for b in stored.blocks.keys() | current.keys() if stored.blocks.get(b) != current.get(b)
    ]
    return block_start(min(differ)) if differ else None
