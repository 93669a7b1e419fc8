"""Our CSV importer, on small files: good rows become events, bad rows are skipped with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.feeds.importers import FileFormatError, read_file
from services.feeds.items import Candidate
from tests.feeds.support import incidents, prepared

HEADER = "id,version,occurred_at,province,district,lat,lon,category,target,perpetrator,killed,injured,summary,url\n"  # noqa: E501
ROWS = [
    'a1,1,2023-01-30,KPK,Peshawar,34.01,71.58,suicide_bombing,security_forces,TTP,84,200,"Police Lines, mosque",https://example.org/a1\n',  # noqa: E501
    "a2,,2023-13-01,Punjab,,,,bombing,,,,,,\n",  # line 3: no such month
    "a3,,2023-02-01,Narnia,,,,bombing,,,,,,\n",  # line 4: unknown province
    "a4,,2023-02-01,Sindh,,,,armed_assault,,,many,,,\n",  # line 5: killed not a number
    "a5,,2023-02-01,Sindh\n",  # line 6: short row
    "a6,,2023-02-01,Sindh,,24.9,,armed_assault,,,,,,\n",  # line 7: lat without lon
    "a1,2,2023-01-30,KP,Peshawar,34.01,71.58,suicide_bombing,security_forces,TTP,101,220,revised,\n",
    "a7,,2999-01-01,Sindh,,,,armed_assault,,,,,,\n",  # line 9: in the future
    'a8,,2023-03-01,Former FATA,Bajaur,,,clash,,,2,1,"two\nlines",\n',  # lines 10–11
    "a9,,2023-03-02,Sindh,,,,teleportation,,,,,,\n",  # line 12: unknown category
    "\n",  # a blank line is no row
    "a10,,2023-03-03T10:00:00+05:00,ICT,,,,other,,,0,0,,\n",  # line 14
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "incidents.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_become_events_and_bad_rows_are_skipped_with_their_line(tmp_path: Path) -> None:
    sent, summary = prepared(read_file(write(tmp_path, HEADER + "".join(ROWS)), "csv"))

    got = incidents(sent)
    assert [(i.id, i.version) for i in got] == [("a1", 1), ("a1", 2), ("a8", 1), ("a10", 1)]
    first = got[0]
    assert (first.source, first.province, first.district, first.category) == (
        "surgewatch/csv",
        "PK-KP",
        "Peshawar",
        "suicide_bombing",
    )
    assert (first.killed, first.injured, first.lat, first.lon) == (84, 200, 34.01, 71.58)
    assert first.summary == "Police Lines, mosque" and first.url == "https://example.org/a1"
    assert got[2].subregion == "PK-TA" and got[2].summary == "two\nlines"
    assert sent[0].key == b"surgewatch/csv\x1fa1"
    assert dict(summary.skipped) == {
        "schema": 4,
        "unknown_province": 1,
        "malformed_row": 1,
        "out_of_range": 1,
    }
    assert summary.lines("schema") == [3, 5, 7, 12]
    assert summary.lines("unknown_province") == [4]
    assert summary.lines("malformed_row") == [6]
    assert summary.lines("out_of_range") == [9]


def test_the_source_can_be_chosen(tmp_path: Path) -> None:
    items = list(read_file(write(tmp_path, HEADER + ROWS[0]), "csv", source="ctd/punjab"))
    assert isinstance(items[0], Candidate)
    assert items[0].event["source"] == "ctd/punjab"


def test_a_file_without_a_required_column_is_refused_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path, "id,occurred_at,district,category\nx,2023-01-01,Quetta,bombing\n")
    with pytest.raises(FileFormatError, match=r"missing column.*province"):
        read_file(path, "csv")


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    path = write(tmp_path, "id,occurred_at,province,category\nx,2023-01-01,Baluchistan,bombing\n")
    sent, summary = prepared(read_file(path, "csv"))
    assert summary.total_skipped == 0
    assert incidents(sent)[0].province == "PK-BA"


def test_a_windows_1252_export_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes(
        "id,occurred_at,province,category,summary\nx,2023-01-01,Sindh,bombing,café blast\n".encode(
            "cp1252"
        )
    )
    sent, _ = prepared(read_file(path, "csv"))
    assert incidents(sent)[0].summary == "café blast"
