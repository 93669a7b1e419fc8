"""The check before publishing: parse's verdict decides, every skip lands in the summary."""

from __future__ import annotations

from services.feeds import envelope
from services.feeds.check import check
from services.feeds.items import Candidate, Outgoing, Skip
from tests.feeds.support import GAZETTEER, NOW, prepared

GOOD = {"id": "g", "occurred_at": "2024-01-02", "province": "Sindh", "category": "clash"}


def test_valid_candidates_go_out_encoded_with_their_key() -> None:
    out = check(Candidate(4, envelope.reported("desk", GOOD)), GAZETTEER, NOW)
    assert isinstance(out, Outgoing)
    assert (out.line, out.key) == (4, b"desk\x1fg")
    assert out.value == envelope.encode(envelope.reported("desk", GOOD))


def test_rejections_become_skips_with_parse_reason_and_notes_count_only_sent_events() -> None:
    items: list[Candidate | Skip] = [
        Candidate(1, envelope.reported("desk", GOOD), notes=("approximate_day",)),
        Candidate(2, envelope.reported("desk", {**GOOD, "killed": -1}), notes=("approximate_day",)),
        Skip(3, "malformed_row", "2 cells"),
        Candidate(4, envelope.reported("desk", {**GOOD, "province": "Gondor"})),
    ]
    sent, summary = prepared(items)
    assert [m.line for m in sent] == [1]
    assert dict(summary.skipped) == {"out_of_range": 1, "malformed_row": 1, "unknown_province": 1}
    assert summary.examples["out_of_range"][0][0] == 2
    assert "data.killed" in summary.examples["out_of_range"][0][1]
    assert summary.notes == {"approximate_day": 1}
