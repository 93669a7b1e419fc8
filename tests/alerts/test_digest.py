"""Digests of evaluated counts: blocks, merging after an evaluation, finding the first change."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.alerts.digest import (
    BLOCK_DAYS,
    DataDigest,
    DayRow,
    block_hashes,
    block_of,
    block_start,
    first_change,
    floor_to_block,
    merged,
)

B0 = floor_to_block(date(2024, 1, 1))  # the first day of a block
THROUGH = B0 + timedelta(days=4 * BLOCK_DAYS - 1)  # four whole blocks


def day(i: int) -> date:
    return B0 + timedelta(days=i)


def rows(values: dict[int, int]) -> list[DayRow]:
    return [(day(i), n, 2 * n, 3 * n) for i, n in sorted(values.items())]


BASE = {i: 1 + i % 3 for i in range(0, 4 * BLOCK_DAYS, 2)}  # every other day, all four blocks


def test_blocks_are_aligned_and_never_move() -> None:
    assert floor_to_block(B0) == B0 and block_start(block_of(B0)) == B0
    last = B0 + timedelta(days=BLOCK_DAYS - 1)
    assert block_of(last) == block_of(B0) and block_of(last + timedelta(days=1)) == block_of(B0) + 1
    assert floor_to_block(last) == B0


@pytest.mark.parametrize(
    ("change", "first_changed_block"),
    [
        ({}, None),  # nothing changed
        ({3: 5}, 0),  # a day's count
        ({BLOCK_DAYS + 1: 1}, 1),  # a day that had none
        ({2 * BLOCK_DAYS: 0}, 2),  # a day retracted to zero
        ({3 * BLOCK_DAYS + 2: 9, BLOCK_DAYS + 4: 7}, 1),  # the earliest of two
    ],
)
def test_first_change_is_the_start_of_the_earliest_changed_block(
    change: dict[int, int], first_changed_block: int | None
) -> None:
    stored = DataDigest(block_hashes(rows(BASE), THROUGH))
    current = block_hashes(rows({**BASE, **change}), THROUGH)
    expected = None if first_changed_block is None else day(first_changed_block * BLOCK_DAYS)
    assert first_change(stored, current) == expected


def test_a_moved_incident_is_a_change_though_the_totals_are_the_same() -> None:
    stored = DataDigest(block_hashes(rows({1: 1, 2: 0}), THROUGH))
    assert first_change(stored, block_hashes(rows({1: 0, 2: 1}), THROUGH)) == B0


def test_each_metric_counts() -> None:
    stored = DataDigest(block_hashes([(day(1), 1, 0, 0)], THROUGH))
    assert first_change(stored, block_hashes([(day(1), 1, 0, 1)], THROUGH)) == B0
    assert first_change(stored, block_hashes([(day(1), 1, 1, 0)], THROUGH)) == B0


def test_zero_days_and_split_rows_read_as_the_series_reads_them() -> None:
    plain = block_hashes([(day(1), 3, 0, 0)], THROUGH)
    assert block_hashes([(day(1), 1, 0, 0), (day(1), 2, 0, 0), (day(5), 0, 0, 0)], THROUGH) == plain
    assert block_hashes([(day(5), 0, 0, 0)], THROUGH) == {}


def test_days_after_through_are_not_part_of_the_digest() -> None:
    through = day(10)
    assert block_hashes(rows({1: 1, 11: 4}), through) == block_hashes(rows({1: 1}), through)


def test_an_unknown_digest_differs_from_any_data() -> None:
    assert first_change(None, block_hashes(rows({BLOCK_DAYS + 3: 1}), THROUGH)) == day(BLOCK_DAYS)
    assert first_change(None, {}) is None


def test_merged_keeps_blocks_before_what_was_read() -> None:
    old = DataDigest(block_hashes(rows(BASE), THROUGH))
    since = day(2 * BLOCK_DAYS)
    changed = {**BASE, 1: 9, 2 * BLOCK_DAYS + 1: 9}  # one change before `since`, one after
    read = [r for r in rows(changed) if r[0] >= since]
    digest = merged(old, block_hashes(read, THROUGH), since, first=day(0))
    assert digest is not None
    current = block_hashes(rows(changed), THROUGH)
    # The change after `since` was evaluated; the one before it still shows.
    assert first_change(digest, current) == B0
    assert {b: digest.blocks[b] for b in current if b >= block_of(since)} == {
        b: h for b, h in current.items() if b >= block_of(since)
    }


def test_merged_without_an_old_digest_is_unknown_if_data_came_before_what_was_read() -> None:
    since = day(BLOCK_DAYS)
    fresh = block_hashes([r for r in rows(BASE) if r[0] >= since], THROUGH)
    assert merged(None, fresh, since, first=day(0)) is None
    assert merged(None, fresh, since, first=since) == DataDigest(fresh)
    assert merged(None, {}, since, first=None) == DataDigest({})
    with pytest.raises(ValueError, match="does not start a block"):
        merged(None, fresh, since + timedelta(days=1), first=None)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"block_days": BLOCK_DAYS + 1, "blocks": {}},
        {"block_days": BLOCK_DAYS, "blocks": []},
        {"block_days": BLOCK_DAYS, "blocks": {"x": "00"}},
    ],
)
def test_an_unreadable_stored_digest_is_unknown(data: object) -> None:
    assert DataDigest.from_json(data) is None


def test_the_stored_form_round_trips() -> None:
    digest = DataDigest(block_hashes(rows(BASE), THROUGH))
    assert DataDigest.from_json(digest.to_json()) == digest
