"""The end-of-replay summary: counts by reason, the first line numbers, notes, failure."""

from __future__ import annotations

from services.feeds.items import Skip
from services.feeds.summary import FIRST_N, Summary


def test_render_lists_reasons_with_their_first_lines() -> None:
    summary = Summary(published=7)
    for line in range(2, 2 + FIRST_N + 5):
        summary.skip(Skip(line, "bad_date", f"row {line}"))
    summary.skip(Skip(40, "unknown_province", "data.province: 'Gondor' is not in the gazetteer"))
    summary.note("approximate_day", "approximate_day")
    text = summary.render("incidents")

    assert summary.lines("bad_date") == list(range(2, 2 + FIRST_N))
    assert summary.total_skipped == FIRST_N + 6
    assert text.splitlines()[0] == "published 7 event(s) to incidents"
    assert f"bad_date: {FIRST_N + 5} — line(s) 2, 3, 4" in text and f"(first {FIRST_N})" in text
    assert "unknown_province: 1 — line(s) 40" in text and "Gondor" in text
    assert "note: 2 event(s): approximate_day" in text
    assert "FAILED" not in text
    summary.failure = "Kafka: unreachable"
    assert summary.render("incidents").endswith("FAILED: Kafka: unreachable")
