"""`plan_batch`: the decisions of a batch, as tables of cases (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.core.events import RawMessage
from services.core.gazetteer import load_gazetteer
from services.core.parse import parse
from services.ingest.plan import Item, Stored, plan_batch
from tests.support import events

NOW = datetime(2025, 1, 1, tzinfo=UTC)
GAZ = load_gazetteer()
SOURCE = "test/desk"


def item(value: bytes, offset: int = 0) -> Item:
    raw = RawMessage(value, (), "incidents", 0, offset)
    return Item(raw, parse(raw, GAZ, NOW))


def report(id_: str, version: int = 1, **fields: object) -> Item:
    return item(events.structured(id_, version=version, **fields))


def stored(version: int = 1, *, retracted: bool = False, killed: int = 0) -> Stored:
    return Stored(
        version=version,
        retracted=retracted,
        province="PK-BA",
        day=date(2024, 3, 1),
        subregion=None,
        category="bombing",
        killed=killed,
        injured=0,
        occurred_at=datetime(2024, 2, 29, 19, tzinfo=UTC),
    )


BA = ("PK-BA", date(2024, 3, 1), "", "bombing")


@pytest.mark.parametrize(
    ("items", "db", "retracted", "results", "deltas"),
    [
        pytest.param([report("a", killed=3)], {}, set(), ["accepted"], {BA: (1, 3, 0)}, id="new"),
        pytest.param(
            [report("a")],
            {("test/desk", "a"): stored()},
            set(),
            ["duplicate"],
            {},
            id="same-version",
        ),
        pytest.param(
            [report("a", 1)], {("test/desk", "a"): stored(2)}, set(), ["duplicate"], {}, id="older"
        ),
        pytest.param(
            [report("a", 2, killed=5)],
            {("test/desk", "a"): stored(1, killed=2)},
            set(),
            ["updated"],
            {BA: (0, 3, 0)},
            id="correction-moves-counts",
        ),
        pytest.param(
            [report("a", 2, province="Sindh")],
            {("test/desk", "a"): stored(1)},
            set(),
            ["updated"],
            {BA: (-1, 0, 0), ("PK-SD", date(2024, 3, 1), "", "bombing"): (1, 0, 0)},
            id="correction-moves-province",
        ),
        pytest.param(
            [item(events.retraction("a"))],
            {("test/desk", "a"): stored(killed=4)},
            set(),
            ["retracted"],
            {BA: (-1, -4, 0)},
            id="retraction",
        ),
        pytest.param(
            [item(events.retraction("a"))], {}, set(), ["retracted"], {}, id="retract-unknown"
        ),
        pytest.param(
            [report("a")], {}, {("test/desk", "a")}, ["retracted"], {}, id="report-after-retraction"
        ),
        pytest.param(
            [item(events.retraction("a")), report("a")],
            {},
            set(),
            ["retracted", "retracted"],
            {},
            id="retraction-then-report-in-one-batch",
        ),
        pytest.param(
            [report("a"), item(events.retraction("a"))],
            {},
            set(),
            ["accepted", "retracted"],
            {},
            id="report-then-retraction-in-one-batch",
        ),
        pytest.param(
            [report("a"), report("a"), report("a", 2, killed=1)],
            {},
            set(),
            ["accepted", "duplicate", "updated"],
            {BA: (1, 1, 0)},
            id="in-batch-duplicate-and-correction",
        ),
        pytest.param(
            [item(events.retraction("a")), item(events.retraction("a"))],
            {("test/desk", "a"): stored()},
            set(),
            ["retracted", "duplicate"],
            {BA: (-1, 0, 0)},
            id="double-retraction",
        ),
        pytest.param([item(b"{")], {}, set(), ["rejected"], {}, id="rejection"),
    ],
)
def test_plan_outcomes_and_deltas(items, db, retracted, results, deltas) -> None:
    plan = plan_batch(items, db, retracted)
    assert [o.result for o in plan.outcomes] == results
    got = {k: (d.incidents, d.killed, d.injured) for k, d in plan.nonzero_deltas().items()}
    assert got == deltas


def test_inputs_are_not_modified() -> None:
    db = {("test/desk", "a"): stored()}
    retracted: set[tuple[str, str]] = set()
    plan_batch([item(events.retraction("a")), report("b")], db, retracted)
    assert db == {("test/desk", "a"): stored()} and retracted == set()


def test_every_version_joins_the_history_even_a_late_older_one() -> None:
    plan = plan_batch([report("a", 1)], {("test/desk", "a"): stored(3)}, set())
    assert list(plan.versions) == [("test/desk", "a", 1)]


def test_notices_name_every_province_and_day_a_change_touched() -> None:
    moved = report("a", 2, province="Sindh", occurred_at="2024-03-05")
    plan = plan_batch([moved], {("test/desk", "a"): stored(1)}, set())
    by_province = {n.province: (n.change, n.days) for n in plan.notices}
    assert by_province == {
        "PK-BA": ("updated", (date(2024, 3, 1),)),
        "PK-SD": ("updated", (date(2024, 3, 5),)),
    }


def test_only_incidents_the_database_has_no_row_for_are_fresh() -> None:
    retracted_first = item(events.retraction("c"))
    batch = [report("a", 2), report("b"), report("b", 2), retracted_first, report("c")]
    plan = plan_batch(batch, {("test/desk", "a"): stored(1)}, {("test/desk", "d")})
    assert plan.fresh == {("test/desk", "b"), ("test/desk", "c")}
    assert set(plan.upserts) == {("test/desk", k) for k in "abc"}


def test_duplicates_make_no_notice() -> None:
    plan = plan_batch([report("a")], {("test/desk", "a"): stored()}, set())
    assert plan.notices == []


def test_new_then_corrected_in_one_batch_is_one_accepted_notice() -> None:
    plan = plan_batch([report("a"), report("a", 2)], {}, set())
    assert [(n.change, n.version) for n in plan.notices] == [("accepted", 2)]


def test_rejections_keep_the_message_and_reason() -> None:
    plan = plan_batch([item(b"\xff\xfe")], {}, set())
    [(message, rejection, _key)] = plan.rejections
    assert message.value == b"\xff\xfe" and rejection.reason.value == "invalid_json"
