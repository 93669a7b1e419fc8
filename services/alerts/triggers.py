"""Pending evaluations per province: notices debounced, wake-ups, and what offsets may commit.

A notice makes its province due `debounce_s` after the first notice of a burst (later notices
join the burst without pushing it back, so a steady stream still gets evaluated), and remembers
the earliest day it changed. A wake-up (clock tick, day advance, new ownership) makes provinces
due without a changed day; a change found in the database without a notice makes its province
due at once, from the day found. A notice's offset may be committed to Kafka only once the
evaluation it triggered has committed to the database: `committable` holds each partition back
at the oldest notice still pending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from aiokafka import TopicPartition


@dataclass
class Due:
    """One province to evaluate, from `changed_from` (None: no past day changed)."""

    province: str
    changed_from: date | None = None
    at: float = 0.0  # monotonic time it becomes due
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # oldest notice per partition

    def merge(self, changed_from: date | None, at: float) -> None:
        if changed_from is not None and (
            self.changed_from is None or changed_from < self.changed_from
        ):
            self.changed_from = changed_from
        self.at = min(self.at, at)


class Triggers:
    def __init__(self, debounce_s: float) -> None:
        self.debounce_s = debounce_s
        self._pending: dict[str, Due] = {}

    def notice(
        self, province: str, changed_from: date | None, tp: TopicPartition, offset: int, now: float
    ) -> None:
        due = self._get(province, now + self.debounce_s)
        due.merge(changed_from, now + self.debounce_s)
        due.offsets[tp] = min(due.offsets.get(tp, offset), offset)

    def changed(self, province: str, day: date, at: float) -> None:
        """A change found without a notice: evaluate `province` from `day`, due at `at`."""
        self._get(province, at).merge(day, at)

    def changed_from(self, province: str) -> date | None:
        """The earliest changed day pending for `province` (None: none pending)."""
        due = self._pending.get(province)
        return due.changed_from if due is not None else None

    def wake(self, provinces: Iterable[str], at: float) -> None:
        for province in provinces:
            self._get(province, at).merge(None, at)

    def restore(self, due: Due, at: float) -> None:
        """Put back an evaluation that failed, to retry at `at` (its offsets stay held)."""
        current = self._get(due.province, at)
        current.merge(due.changed_from, at)
        for tp, offset in due.offsets.items():
            current.offsets[tp] = min(current.offsets.get(tp, offset), offset)

    def pop_due(self, now: float) -> list[Due]:
        """The provinces due by `now`, oldest first, removed from the pending set."""
        ready = sorted((d for d in self._pending.values() if d.at <= now), key=lambda d: d.at)
        for due in ready:
            del self._pending[due.province]
        return ready

    def next_at(self) -> float | None:
        return min((d.at for d in self._pending.values()), default=None)

    def drop(self, provinces: Iterable[str]) -> None:
        for province in provinces:
            self._pending.pop(province, None)

    def pending(self) -> list[str]:
        return sorted(self._pending)

    def committable(self, positions: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Per partition: the consumed position, held back at the oldest pending notice."""
        out = dict(positions)
        for due in self._pending.values():
            for tp, offset in due.offsets.items():
                if tp in out:
                    out[tp] = min(out[tp], offset)
        return out

    def _get(self, province: str, at: float) -> Due:
        due = self._pending.get(province)
        if due is None:
            due = self._pending[province] = Due(province, None, at)
        return due
