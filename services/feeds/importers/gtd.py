"""The Global Terrorism Database (GTD) export: one attack per row, codebook column names.

Dates: GTD writes 0 for an unknown month or day.
- month 0 → the row is skipped (`unknown_month`): a year-only date could sit anywhere in twelve
  months, and placing it would invent a surge (or hide one) in whichever month we picked.
- day 0 (month known) → the 15th, with a note in the summary text and a count in the replay's
  summary (`approximate_day`). The 15th keeps the error within about half a month, keeps monthly
  totals right, and avoids piling the month's unknowns onto the 1st, which a daily or weekly
  detector would read as a spike at the start of the month.
Casualties: an empty nkill/nwound means "not known"; the field is left out (the contract then
counts 0) and the row is counted under `casualties_unknown`. GTD has no district column: `city` is
used. The category and target tables are in mappings/gtd.yaml; provstate goes through the gazetteer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from services.feeds.importers import tables
from services.feeds.importers.rows import (
    RowError,
    cell,
    clip,
    csv_rows,
    decode,
    each_row,
    integer,
    known,
    location,
    to_candidate,
)
from services.feeds.items import Item

REQUIRED = (
    "eventid", "iyear", "imonth", "iday", "provstate", "city", "latitude", "longitude",
    "attacktype1_txt", "targtype1_txt", "gname", "nkill", "nwound", "summary",
)  # fmt: skip
APPROXIMATE_DAY = 15
DAY_NOTE = "[date approximate: GTD gives no day; placed on the 15th] "


def read(data: bytes, source: str) -> Iterator[Item]:
    rows = csv_rows(decode(data, "GTD file"), REQUIRED, "GTD file")
    table = tables.load("gtd")
    return each_row(rows, lambda line, row: _event(line, row, source, table))


def _event(line: int, row: dict[str, str], source: str, table: dict[str, Any]) -> Item:
    country = cell(row, "country_txt")
    if country is not None and country != table["country"]:
        raise RowError("other_country", f"country_txt is {country!r}")
    notes: list[str] = []
    day, approximate = _day(row)
    summary = clip(cell(row, "summary"), 4000 - len(DAY_NOTE))
    if approximate:
        notes.append("approximate_day")
        summary = (DAY_NOTE + (summary or "")).strip()
    killed, injured = integer(cell(row, "nkill")), integer(cell(row, "nwound"))
    if killed is None or injured is None:
        notes.append("casualties_unknown")
    data = {
        "id": cell(row, "eventid"),
        "occurred_at": day.isoformat(),
        "province": cell(row, "provstate"),
        "district": clip(known(row, "city"), 100),
        "location": location(cell(row, "latitude"), cell(row, "longitude")),
        "category": _category(row, table["categories"]),
        "target": table["targets"]["targtype1_txt"].get(cell(row, "targtype1_txt")),
        "perpetrator": clip(cell(row, "gname"), 100),
        "killed": killed,
        "injured": injured,
        "summary": summary,
    }
    return to_candidate(line, source, data, notes=tuple(notes))


def _day(row: dict[str, str]) -> tuple[date, bool]:
    parts = [integer(cell(row, name)) for name in ("iyear", "imonth", "iday")]
    if not all(isinstance(p, int) for p in parts):
        raise RowError("bad_date", f"iyear/imonth/iday {parts!r} are not all integers")
    year, month, day = (int(p) for p in parts)  # type: ignore[arg-type]
    if month == 0:
        raise RowError("unknown_month", f"imonth is 0 (month unknown) in {year}")
    try:
        return date(year, month, day or APPROXIMATE_DAY), day == 0
    except ValueError as exc:
        raise RowError("bad_date", f"{year}-{month}-{day}: {exc}") from None


def _category(row: dict[str, str], categories: dict[str, dict[str, str]]) -> str:
    attack = cell(row, "attacktype1_txt")
    if cell(row, "suicide") == "1" and attack in categories["suicide"]:
        return categories["suicide"][attack]
    if attack not in categories["attacktype1_txt"]:
        raise RowError(
            "unmapped_category", f"attacktype1_txt {attack!r} is not in mappings/gtd.yaml"
        )
    return categories["attacktype1_txt"][attack]
