"""Regions as data: a YAML gazetteer maps every code, name and alias to a region (and subregion)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from services.core.settings import DEFAULT_GAZETTEER_FILE

_FOLD = re.compile(r"[\s.\-_]+")


def fold(name: str) -> str:
    """Normalise a region name for matching: case, spaces, dots, hyphens and underscores."""
    return _FOLD.sub(" ", name.strip().casefold()).strip()


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Match:
    """What a province string resolves to; `subregion` is set for folded units (former FATA)."""

    region: Region
    subregion: Region | None = None


@dataclass(frozen=True, slots=True)
class BoundingBox:
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


_SEEN_MAX = 4096


@dataclass(frozen=True)
class Gazetteer:
    country: str
    timezone: ZoneInfo
    bounding_box: BoundingBox
    regions: tuple[Region, ...]
    subregions: tuple[Region, ...] = ()
    _index: dict[str, Match] = field(default_factory=dict, repr=False)
    _seen: dict[str, Match] = field(default_factory=dict, repr=False, compare=False)

    def resolve(self, name: str) -> Match | None:
        """The region a code, name or alias stands for, or None if it is unknown."""
        match = self._seen.get(name)
        if match is None:
            match = self._index.get(fold(name))
            # Publishers repeat a handful of spellings: remember those that resolve (bounded).
            if match is not None and len(self._seen) < _SEEN_MAX:
                self._seen[name] = match
        return match

    def region(self, code: str) -> Region | None:
        match = self._index.get(fold(code))
        return match.region if match and match.subregion is None else None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.regions)


class GazetteerError(ValueError):
    """The gazetteer file is malformed or ambiguous."""


def load_gazetteer(path: Path = DEFAULT_GAZETTEER_FILE) -> Gazetteer:
    """Read and check a gazetteer file; an alias that names two places is an error."""
    return _load(path.resolve())


@cache
def _load(path: Path) -> Gazetteer:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        regions = {r["code"]: Region(r["code"], r["name"]) for r in doc["regions"]}
        index: dict[str, Match] = {}

        def add(names: list[str], match: Match) -> None:
            for name in names:
                key = fold(name)
                if key in index and index[key] != match:
                    raise GazetteerError(f"{path}: '{name}' names two places")
                index[key] = match

        for entry in doc["regions"]:
            region = regions[entry["code"]]
            add([entry["code"], entry["name"], *entry.get("aliases", [])], Match(region))
        subregions = []
        for entry in doc.get("subregions", []):
            sub = Region(entry["code"], entry["name"])
            subregions.append(sub)
            add(
                [entry["code"], entry["name"], *entry.get("aliases", [])],
                Match(regions[entry["region"]], sub),
            )
        box = BoundingBox(**doc["bounding_box"])
        return Gazetteer(
            country=doc["country"],
            timezone=ZoneInfo(doc["timezone"]),
            bounding_box=box,
            regions=tuple(regions.values()),
            subregions=tuple(subregions),
            _index=index,
        )
    except (KeyError, TypeError) as exc:
        raise GazetteerError(f"{path}: missing or malformed {exc}") from None
