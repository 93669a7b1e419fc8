"""Candidates checked with the real `parse` before they go out: what ingest rejects, we skip."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from services.core.events import RawMessage, Rejection
from services.core.gazetteer import Gazetteer
from services.core.parse import parse
from services.feeds import envelope
from services.feeds.items import Candidate, Item, Outgoing, Skip
from services.feeds.summary import Summary


def check(candidate: Candidate, gazetteer: Gazetteer, now: datetime) -> Outgoing | Skip:
    """The candidate encoded for Kafka, or a `Skip` carrying parse's reason and detail."""
    value = envelope.encode(candidate.event)
    parsed = parse(RawMessage(value=value, headers=envelope.HEADERS), gazetteer, now)
    if isinstance(parsed, Rejection):
        return Skip(candidate.line, parsed.reason.value, parsed.detail)
    return Outgoing(candidate.line, envelope.key(candidate.event), value)


def prepare(
    items: Iterable[Item], gazetteer: Gazetteer, now: datetime, summary: Summary
) -> Iterator[Outgoing]:
    """The events worth sending, in input order; every skip is recorded in `summary`."""
    for item in items:
        checked = check(item, gazetteer, now) if isinstance(item, Candidate) else item
        if isinstance(checked, Skip):
            summary.skip(checked)
            continue
        assert isinstance(item, Candidate)
        summary.note(*item.notes)
        yield checked
