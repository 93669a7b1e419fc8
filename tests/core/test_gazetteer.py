"""The gazetteer (DESIGN.md "Regions"): every code, name and alias in the data file resolves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.core.gazetteer import Gazetteer, GazetteerError, load_gazetteer
from services.core.settings import CORE_DIR, DEFAULT_GAZETTEER_FILE

GAZ: Gazetteer = load_gazetteer()
DESIGN_REGIONS = {
    "PK-BA": "Balochistan",
    "PK-GB": "Gilgit-Baltistan",
    "PK-IS": "Islamabad Capital Territory",
    "PK-JK": "Azad Jammu and Kashmir",
    "PK-KP": "Khyber Pakhtunkhwa",
    "PK-PB": "Punjab",
    "PK-SD": "Sindh",
}


def file_entries() -> Iterator[tuple[str, str, str | None]]:
    """(name, region code, subregion code) for every name the data file lists, read raw."""
    doc: dict[str, Any] = yaml.safe_load(DEFAULT_GAZETTEER_FILE.read_text(encoding="utf-8"))
    for entry in doc["regions"]:
        for name in (entry["code"], entry["name"], *entry.get("aliases", [])):
            yield name, entry["code"], None
    for entry in doc.get("subregions", []):
        for name in (entry["code"], entry["name"], *entry.get("aliases", [])):
            yield name, entry["region"], entry["code"]


def spellings(name: str) -> dict[str, str]:
    """The ways a publisher may write `name` that must still match it."""
    return {
        "as-is": name,
        "upper": name.upper(),
        "lower": name.lower(),
        "padded": f"  {name}\t",
        "hyphens-as-spaces": name.replace("-", " "),
        "spaces-as-hyphens": name.replace(" ", "-"),
        "loose-separators": name.replace(" ", " - ").replace("-", " _ "),
    }


@pytest.mark.parametrize(("name", "code", "subregion"), list(file_entries()))
def test_every_name_in_the_data_file_resolves_however_it_is_spelled(
    name: str, code: str, subregion: str | None
) -> None:
    for how, spelling in spellings(name).items():
        match = GAZ.resolve(spelling)
        assert match is not None, f"{spelling!r} ({how}) did not resolve"
        assert match.region.code == code, how
        assert (match.subregion.code if match.subregion else None) == subregion, how


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("KP", "PK-KP"),
        ("KPK", "PK-KP"),
        ("NWFP", "PK-KP"),
        ("KHYBER-PAKHTUNKHWA", "PK-KP"),
        (" kpk ", "PK-KP"),
        ("khyber pakhtunkhwa", "PK-KP"),
        ("Baluchistan", "PK-BA"),
        ("ICT", "PK-IS"),
        ("Islamabad", "PK-IS"),
        ("AJK", "PK-JK"),
        ("Azad Kashmir", "PK-JK"),
        ("GB", "PK-GB"),
        ("Northern Areas", "PK-GB"),
        ("Sind", "PK-SD"),
        ("pk-pb", "PK-PB"),
        ("Punjab", "PK-PB"),
    ],
)
def test_the_aliases_design_md_names_resolve(name: str, code: str) -> None:
    match = GAZ.resolve(name)
    assert match is not None and match.region.code == code and match.subregion is None


@pytest.mark.parametrize(
    "name",
    ["FATA", "Federally Administered Tribal Areas", "PK-TA", "fata", " pk ta ", "Ex-FATA"],
)
def test_former_fata_folds_into_kp_and_keeps_its_subregion(name: str) -> None:
    match = GAZ.resolve(name)
    assert match is not None
    assert match.region.code == "PK-KP"
    assert match.subregion is not None and match.subregion.code == "PK-TA"


@pytest.mark.parametrize(
    "name", ["Kabul", "PK-XX", "PK", "Khyber", "K P", "Punjabi", "Kashmir", "", "   ", "-"]
)
def test_a_name_outside_the_gazetteer_does_not_resolve(name: str) -> None:
    assert GAZ.resolve(name) is None


def test_the_regions_are_the_seven_iso_3166_2_pk_units() -> None:
    assert {r.code: r.name for r in GAZ.regions} == DESIGN_REGIONS
    assert set(GAZ.codes) == set(DESIGN_REGIONS)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("PK-KP", "PK-KP"), ("pk-sd", "PK-SD"), ("Sind", "PK-SD"), ("PK-TA", None), ("XX", None)],
)
def test_region_looks_up_regions_but_not_subregions(code: str, expected: str | None) -> None:
    region = GAZ.region(code)
    assert (region.code if region else None) == expected


def test_days_are_counted_in_karachi_time() -> None:
    assert GAZ.country == "PK"
    assert str(GAZ.timezone) == "Asia/Karachi"


def test_the_bounding_box_holds_every_province_of_the_shipped_map() -> None:
    doc = json.loads((CORE_DIR / "data" / "pakistan-provinces.geojson").read_text())

    def points(coords: Any) -> Iterator[tuple[float, float]]:
        if isinstance(coords[0], int | float):
            yield coords[0], coords[1]
        else:
            for part in coords:
                yield from points(part)

    codes = set()
    for feature in doc["features"]:
        codes.add(feature["properties"]["code"])
        outside = [
            (lat, lon)
            for lon, lat in points(feature["geometry"]["coordinates"])
            if not GAZ.bounding_box.contains(lat, lon)
        ]
        assert not outside, f"{feature['properties']['code']}: {outside[:3]}"
    assert codes == set(GAZ.codes)


GOOD_FILE = """
country: XX
timezone: UTC
bounding_box: {min_lat: 0, max_lat: 1, min_lon: 0, max_lon: 1}
regions:
  - {code: XX-A, name: Alpha, aliases: [A]}
  - {code: XX-B, name: Beta, aliases: [%s]}
"""


def test_another_country_is_another_file(tmp_path: Path) -> None:
    path = tmp_path / "gazetteer-xx.yaml"
    path.write_text(GOOD_FILE % "B")
    gaz = load_gazetteer(path)
    match = gaz.resolve("beta")
    assert gaz.codes == ("XX-A", "XX-B") and match is not None and match.region.code == "XX-B"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(GOOD_FILE % "alpha", "names two places", id="alias-names-two-places"),
        pytest.param((GOOD_FILE % "B").replace("timezone: UTC\n", ""), "timezone", id="no-tz"),
        pytest.param("country: XX\nregions: 3\n", "malformed", id="regions-not-a-list"),
    ],
)
def test_a_malformed_file_is_a_gazetteer_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gazetteer-bad.yaml"
    path.write_text(text)
    with pytest.raises(GazetteerError, match=message):
        load_gazetteer(path)
