"""What a replay reports at the end: published, skipped by reason (with line numbers), notes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from services.feeds.items import Skip

FIRST_N = 10  # line numbers (and details) kept per skip reason


@dataclass
class Summary:
    published: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)
    failure: str | None = None  # set when Kafka failed part-way

    def skip(self, item: Skip) -> None:
        self.skipped[item.reason] += 1
        kept = self.examples.setdefault(item.reason, [])
        if len(kept) < FIRST_N:
            kept.append((item.line, item.detail))

    def note(self, *notes: str) -> None:
        self.notes.update(notes)

    def lines(self, reason: str) -> list[int]:
        """The first `FIRST_N` line numbers skipped for `reason`."""
        return [line for line, _ in self.examples.get(reason, [])]

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def render(self, topic: str) -> str:
        out = [f"published {self.published} event(s) to {topic}"]
        if self.skipped:
            out.append(f"skipped {self.total_skipped} row(s):")
            for reason, count in self.skipped.most_common():
                lines = ", ".join(str(n) for n in self.lines(reason))
                more = f" (first {FIRST_N})" if count > FIRST_N else ""
                out.append(f"  {reason}: {count} — line(s) {lines}{more}")
                for line, detail in self.examples[reason][:3]:
                    out.append(f"    line {line}: {detail}")
        for note, count in sorted(self.notes.items()):
            out.append(f"note: {count} event(s): {note}")
        if self.failure:
            out.append(f"FAILED: {self.failure}")
        return "\n".join(out)
