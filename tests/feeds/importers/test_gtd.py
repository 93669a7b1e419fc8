"""The GTD importer: codebook columns, month/day 0, blank casualties, country filter, mappings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.core.events import Category, Target
from services.feeds.importers import FileFormatError, read_file
from services.feeds.importers.gtd import DAY_NOTE
from tests.feeds.support import incidents, prepared

HEADER = (
    "eventid,iyear,imonth,iday,country_txt,provstate,city,latitude,longitude,attacktype1_txt,"
    "targtype1_txt,gname,nkill,nwound,suicide,summary\n"
)
ROWS = [
    # line 2: a plain bombing
    "201401010001,2014,1,1,Pakistan,Balochistan,Quetta,30.18,67.0,Bombing/Explosion,Police,"
    'Unknown,3.0,10,0,"A bomb, near a checkpost"\n',
    # line 3: day unknown, casualties unknown
    "201402000001,2014,2,0,Pakistan,Khyber Pakhtunkhwa,Peshawar,34.0,71.5,Armed Assault,"
    "Private Citizens & Property,Tehrik-i-Taliban Pakistan (TTP),,,0,Gunmen opened fire\n",
    # line 4: month unknown
    "201400000002,2014,0,0,Pakistan,Sindh,Karachi,24.86,67.0,Armed Assault,Police,Unknown,1,0,0,\n",
    # line 5: a suicide bombing in the former FATA
    "201403050001,2014,3,5,Pakistan,Federally Administered Tribal Areas,Miranshah,33.0,70.07,"
    "Bombing/Explosion,Military,TTP,12,20,1,\n",
    # line 6: province unknown
    "201403060001,2014,3,6,Pakistan,Unknown,Unknown,,,Armed Assault,Police,Unknown,1,0,0,\n",
    # line 7: 30 February
    "201402300001,2014,2,30,Pakistan,Punjab,Lahore,31.5,74.3,Armed Assault,Police,Unknown,1,0,0,\n",
    # line 8: another country
    "201403080001,2014,3,8,India,Jammu and Kashmir,Srinagar,34.1,74.8,Armed Assault,Police,"
    "Unknown,1,0,0,\n",
    # line 9: a short row
    "201403090001,2014,3\n",
    # line 10: an attack type the table does not know
    "201403100001,2014,3,10,Pakistan,Sindh,Karachi,24.86,67.0,Teleportation,Police,Unknown,1,0,0,\n",
    # line 11: nkill is not a number
    "201403110001,2014,3,11,Pakistan,Sindh,Karachi,24.86,67.0,Armed Assault,Police,Unknown,"
    "lots,0,0,\n",
    # line 12: coordinates in the sea near Madagascar
    "201403120001,2014,3,12,Pakistan,Sindh,Karachi,-20.0,47.0,Armed Assault,Police,Unknown,"
    "1,0,0,\n",
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gtd.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_gtd_rows_map_onto_the_contract(tmp_path: Path) -> None:
    sent, summary = prepared(read_file(write(tmp_path, HEADER + "".join(ROWS)), "gtd"))

    got = {i.id: i for i in incidents(sent)}
    assert sorted(got) == ["201401010001", "201402000001", "201403050001"]
    bomb = got["201401010001"]
    assert (bomb.source, bomb.day, bomb.province, bomb.district) == (
        "gtd",
        date(2014, 1, 1),
        "PK-BA",
        "Quetta",
    )
    assert (bomb.category, bomb.target, bomb.killed, bomb.injured) == (
        Category.bombing,
        Target.security_forces,
        3,
        10,
    )
    assert bomb.perpetrator == "Unknown" and bomb.summary == "A bomb, near a checkpost"

    approximate = got["201402000001"]
    assert approximate.day == date(2014, 2, 15)
    assert approximate.summary is not None and approximate.summary.startswith(DAY_NOTE)
    assert (approximate.killed, approximate.injured, approximate.target) == (
        0,
        0,
        Target.civilians,
    )

    suicide = got["201403050001"]
    assert (suicide.province, suicide.subregion, suicide.category) == (
        "PK-KP",
        "PK-TA",
        Category.suicide_bombing,
    )

    assert dict(summary.skipped) == {
        "unknown_month": 1,
        "unknown_province": 1,
        "bad_date": 1,
        "other_country": 1,
        "malformed_row": 1,
        "unmapped_category": 1,
        "schema": 1,
        "out_of_range": 1,
    }
    assert [summary.lines(r) for r in ("unknown_month", "unknown_province", "bad_date")] == [
        [4],
        [6],
        [7],
    ]
    assert [summary.lines(r) for r in ("other_country", "malformed_row", "unmapped_category")] == [
        [8],
        [9],
        [10],
    ]
    assert summary.lines("schema") == [11] and summary.lines("out_of_range") == [12]
    assert summary.notes == {"approximate_day": 1, "casualties_unknown": 1}


def test_without_country_column_every_row_is_taken_as_pakistan(tmp_path: Path) -> None:
    header = HEADER.replace("country_txt,", "")
    row = ROWS[0].replace("Pakistan,", "")
    sent, summary = prepared(read_file(write(tmp_path, header + row), "gtd"))
    assert summary.total_skipped == 0 and len(incidents(sent)) == 1


def test_a_gtd_file_missing_a_codebook_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="nkill"):
        read_file(write(tmp_path, HEADER.replace("nkill,", "")), "gtd")
