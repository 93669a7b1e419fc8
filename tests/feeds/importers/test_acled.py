"""The ACLED importer: event types through the table, edits → versions by timestamp."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.core.events import Category, Target
from services.feeds.importers import FileFormatError, read_file
from tests.feeds.support import incidents, parse_value, prepared

HEADER = (
    "event_id_cnty,event_date,country,admin1,admin2,event_type,sub_event_type,actor1,"
    "civilian_targeting,fatalities,latitude,longitude,notes,timestamp\n"
)
ROWS = [
    # line 2, then its edit on line 3 (a later timestamp)
    "PAK100,2023-01-30,Pakistan,Khyber Pakhtunkhwa,Peshawar,Explosions/Remote violence,"
    "Suicide bomb,Jamaat-ul-Ahrar,,59,34.01,71.58,First report,1675100000\n",
    "PAK100,2023-01-30,Pakistan,Khyber Pakhtunkhwa,Peshawar,Explosions/Remote violence,"
    "Suicide bomb,Jamaat-ul-Ahrar,,84,34.01,71.58,Revised toll,1675900000\n",
    # line 4: a protest is not a security incident
    "PAK101,30 January 2023,Pakistan,Punjab,Lahore,Protests,Peaceful protest,Protesters,,0,"
    "31.5,74.3,,1675100000\n",
    # line 5: no such day
    "PAK102,2023-02-31,Pakistan,Sindh,Karachi,Battles,Armed clash,Police,,1,24.9,67.0,,"
    "1675100000\n",
    # line 6: no timestamp
    "PAK103,2023-02-01,Pakistan,Sindh,Karachi,Battles,Armed clash,Police,,1,24.9,67.0,,\n",
    # line 7: unknown province
    "PAK104,2023-02-01,Pakistan,Atlantis,,Battles,Armed clash,Police,,1,,,,1675100000\n",
    # line 8: violence against civilians, the date as ACLED's site writes it
    "PAK105,1 February 2023,Pakistan,Balochistan,Kech,Violence against civilians,Attack,"
    'BLA,Civilian targeting,2,26.0,63.05,"Gunmen, at night",1675300000\n',
    # line 9: another country
    "IND200,2023-02-01,India,Punjab,Amritsar,Battles,Armed clash,Police,,1,31.6,74.9,,1675100000\n",
    # line 10: a type the table does not know
    "PAK106,2023-02-01,Pakistan,Sindh,Karachi,Cyber,Hack,X,,0,24.9,67.0,,1675100000\n",
    # line 11: a type known only by its event_type
    "PAK107,2023-02-02,Pakistan,FATA,Khyber,Battles,,Military Forces of Pakistan,,3,34.0,71.2,,"
    "1675400000\n",
]


def write(tmp_path: Path, text: str, name: str = "acled.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_acled_rows_map_onto_the_contract(tmp_path: Path) -> None:
    sent, summary = prepared(read_file(write(tmp_path, HEADER + "".join(ROWS)), "acled"))

    got = incidents(sent)
    assert [(i.id, i.version) for i in got] == [
        ("PAK100", 1675100000),
        ("PAK100", 1675900000),
        ("PAK105", 1675300000),
        ("PAK107", 1675400000),
    ]
    first, edit, civilians, battle = got
    assert (first.killed, edit.killed, edit.summary) == (59, 84, "Revised toll")
    assert (edit.source, edit.category, edit.province, edit.district) == (
        "acled",
        Category.suicide_bombing,
        "PK-KP",
        "Peshawar",
    )
    assert edit.event_time == datetime.fromtimestamp(1675900000, UTC)
    assert (civilians.day, civilians.category, civilians.target, civilians.perpetrator) == (
        date(2023, 2, 1),
        Category.armed_assault,
        Target.civilians,
        "BLA",
    )
    assert civilians.injured == 0 and civilians.summary == "Gunmen, at night"
    assert (battle.category, battle.subregion) == (Category.clash, "PK-TA")
    assert dict(summary.skipped) == {
        "not_an_incident": 1,
        "bad_date": 1,
        "bad_timestamp": 1,
        "unknown_province": 1,
        "other_country": 1,
        "unmapped_category": 1,
    }
    assert [
        summary.lines(r)
        for r in (
            "not_an_incident",
            "bad_date",
            "bad_timestamp",
            "unknown_province",
            "other_country",
            "unmapped_category",
        )
    ] == [[4], [5], [6], [7], [9], [10]]


def test_versions_stay_monotonic_across_separate_exports(tmp_path: Path) -> None:
    older = write(tmp_path, HEADER + ROWS[1], "march.csv")  # the edit, exported later …
    newer = write(tmp_path, HEADER + ROWS[0], "january.csv")  # … than this first report
    (late,) = incidents(prepared(read_file(older, "acled"))[0])
    (early,) = incidents(prepared(read_file(newer, "acled"))[0])
    assert late.version > early.version


def test_the_same_edit_twice_is_the_same_event(tmp_path: Path) -> None:
    sent, _ = prepared(read_file(write(tmp_path, HEADER + ROWS[1] + ROWS[1]), "acled"))
    first, second = (parse_value(m.value) for m in sent)
    assert first == second


def test_an_acled_file_without_timestamp_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="timestamp"):
        read_file(write(tmp_path, HEADER.replace(",timestamp", "")), "acled")
