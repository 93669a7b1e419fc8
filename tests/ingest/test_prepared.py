"""A parsed batch waiting for the store (`consumer.Prepared`) keeps only what is still current."""

from __future__ import annotations

from datetime import UTC, datetime

from services.core.events import RawMessage, Rejection, RejectReason
from services.ingest.consumer import Prepared
from services.ingest.plan import Item
from services.ingest.store import Span

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def batch() -> Prepared:
    items = [
        Item(
            RawMessage(b"x", (), "incidents", partition, offset), Rejection(RejectReason.schema, "")
        )
        for partition, offsets in ((0, (10, 11)), (1, (5,)), (2, (7, 8)))
        for offset in offsets
    ]
    spans = {
        ("incidents", 0): Span(10, 11),
        ("incidents", 1): Span(5, 5),
        ("incidents", 2): Span(7, 8),
    }
    epochs = {("incidents", 0): 1, ("incidents", 1): 3, ("incidents", 2): 1}
    return Prepared(items, spans, epochs, NOW, 0.0)


def test_a_batch_whose_partitions_are_all_current_is_kept_whole() -> None:
    prepared = batch()
    current = {("incidents", 0): 1, ("incidents", 1): 3, ("incidents", 2): 1, ("incidents", 3): 9}
    assert prepared.current(current) is prepared


def test_a_partition_sought_or_revoked_since_the_fetch_is_dropped_and_only_it() -> None:
    sought_again = {("incidents", 0): 2, ("incidents", 1): 3}  # 0 sought, 2 revoked
    kept = batch().current(sought_again)
    assert kept.spans == {("incidents", 1): Span(5, 5)}
    assert [(i.message.partition, i.message.offset) for i in kept.items] == [(1, 5)]
    assert kept.epochs == {("incidents", 1): 3}
    assert batch().current({}).items == []
