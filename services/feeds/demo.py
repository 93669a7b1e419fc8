"""The demo feed: a seeded generator of incidents 2022-01-01 → 2024-12-31, calibrated to DESIGN.md.

`generate(seed)` is pure (it reads only its calibration table, demo-pk.yaml) and deterministic:
the same seed yields the same events, ids included. What is exact and what is drawn:
- exact: incidents per year and area, killed and injured per year (final versions; the retracted
  report is extra, so counts net of the retraction match the table);
- drawn: how a year's incidents spread over the months (a trend between the yearly levels times
  gamma noise: overdispersed, with a few surge episodes), the day and hour, the district (real
  names, location = district centre ± jitter), category, target, perpetrator, and how a year's
  casualties are shared (a Pareto tail: most incidents kill few, a few kill many).
Named incidents from public reporting are part of the counts; a few incidents get a corrected
version 2 and one report is retracted, so the demo exercises both.

Events come out in the order they would be published: first reports in `occurred_at` order (the
envelope `time` is `occurred_at`), corrections and the retraction days after the incident.
"""

from __future__ import annotations

import calendar
import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.feeds import envelope

DEFAULT_CALIBRATION = Path(__file__).with_name("demo-pk.yaml")
_FLOOR = 1e-3  # keeps every month possible where the trend is zero


@dataclass(frozen=True, slots=True)
class District:
    name: str
    lat: float
    lon: float
    weight: float


@dataclass(frozen=True)
class Calibration:
    """demo-pk.yaml, typed. Areas are province codes, or PK-TA for the former FATA."""

    source: str
    tz: timezone
    shape: float
    jitter: float
    incidents: dict[int, dict[str, int]]
    casualties: dict[int, dict[str, int]]
    episodes: dict[tuple[str, int, int], float]
    districts: dict[str, list[District]]
    categories: dict[str, dict[str, float]]
    targets: dict[str, dict[str, float]]
    target_of_category: dict[str, str]
    perpetrators: dict[str, dict[str, float]]
    tail_alpha: float
    tail_cap: float
    lethality: dict[str, dict[str, float]]
    random_corrections: int
    named: list[dict[str, Any]]
    retracted: list[dict[str, Any]]

    @property
    def years(self) -> list[int]:
        return sorted(self.incidents)


@cache
def load_calibration(path: Path = DEFAULT_CALIBRATION) -> Calibration:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    episodes = {}
    for ep in doc["episodes"]:
        year, month = (int(part) for part in str(ep["month"]).split("-"))
        episodes[(ep["area"], year, month)] = float(ep["factor"])
    return Calibration(
        source=doc["source"],
        tz=timezone(timedelta(hours=doc["utc_offset_hours"])),
        shape=float(doc["months_dispersion_shape"]),
        jitter=float(doc["jitter_degrees"]),
        incidents={int(y): dict(areas) for y, areas in doc["incidents"].items()},
        casualties={int(y): dict(c) for y, c in doc["casualties"].items()},
        episodes=episodes,
        districts={
            area: [District(str(n), float(la), float(lo), float(w)) for n, la, lo, w in rows]
            for area, rows in doc["districts"].items()
        },
        categories=doc["categories"],
        targets=doc["targets"],
        target_of_category=doc["target_of_category"],
        perpetrators=doc["perpetrators"],
        tail_alpha=float(doc["casualty_tail"]["alpha"]),
        tail_cap=float(doc["casualty_tail"]["cap"]),
        lethality=doc["lethality"],
        random_corrections=int(doc["random_corrections"]),
        named=list(doc["named"]),
        retracted=list(doc["retracted"]),
    )


@dataclass(slots=True)
class _Draft:
    """One incident's final version, before it becomes events."""

    id: str
    occurred: datetime
    date_only: bool
    area: str
    district: str
    lat: float
    lon: float
    category: str
    target: str | None
    perpetrator: str
    killed: int = 0
    injured: int = 0
    summary: str = ""

    def data(self, version: int) -> dict[str, Any]:
        when = self.occurred.date().isoformat() if self.date_only else self.occurred.isoformat()
        data: dict[str, Any] = {
            "id": self.id,
            "version": version,
            "occurred_at": when,
            "province": self.area,
            "district": self.district,
            "location": {"lat": self.lat, "lon": self.lon},
            "category": self.category,
            "target": self.target,
            "perpetrator": self.perpetrator,
            "killed": self.killed,
            "injured": self.injured,
            "summary": self.summary,
        }
        return {k: v for k, v in data.items() if v is not None}


def generate(seed: int = 2024, calibration: Calibration | None = None) -> Iterator[dict[str, Any]]:
    """The demo's CloudEvents (structured-mode dicts), in publishing order."""
    cal = calibration or load_calibration()
    rng = random.Random(seed)
    named = [_from_table(entry, cal) for entry in cal.named]
    drafts = _random_drafts(cal, rng, named, seed)
    emissions: list[tuple[datetime, int, dict[str, Any]]] = []

    def emit(at: datetime, event: dict[str, Any]) -> None:
        emissions.append((at, len(emissions), event))

    def report(draft: _Draft, version: int, at: datetime) -> None:
        emit(at, envelope.reported(cal.source, draft.data(version), time=at))

    corrected = _pick_corrections(cal, rng, drafts)
    for draft in drafts:
        if draft.id in corrected:
            early, after = corrected[draft.id]
            report(early, 1, draft.occurred)
            report(draft, 2, draft.occurred + after)
        else:
            report(draft, 1, draft.occurred)
    for entry, draft in zip(cal.named, named, strict=True):
        if "first_report" in entry:
            report(replace(draft, **entry["first_report"]), 1, draft.occurred)
            report(draft, 2, draft.occurred + timedelta(days=entry["revised_after_days"]))
        else:
            report(draft, 1, draft.occurred)
    for entry in cal.retracted:
        draft = _from_table(entry, cal)
        report(draft, 1, draft.occurred)
        at = draft.occurred + timedelta(days=entry["retracted_after_days"])
        emit(at, envelope.retracted(cal.source, draft.id, entry["reason"], time=at))
    for _, _, event in sorted(emissions, key=lambda e: (e[0], e[1])):
        yield event


def _from_table(entry: Mapping[str, Any], cal: Calibration) -> _Draft:
    raw = str(entry["occurred_at"])
    date_only = len(raw) == 10
    occurred = (
        datetime.combine(date.fromisoformat(raw), time(), cal.tz)
        if date_only
        else datetime.fromisoformat(raw)
    )
    return _Draft(
        id=entry["id"],
        occurred=occurred,
        date_only=date_only,
        area=entry["province"],
        district=entry["district"],
        lat=entry["location"]["lat"],
        lon=entry["location"]["lon"],
        category=entry["category"],
        target=entry.get("target"),
        perpetrator=entry["perpetrator"],
        killed=entry["killed"],
        injured=entry["injured"],
        summary=" ".join(str(entry["summary"]).split()),
    )


def _random_drafts(
    cal: Calibration, rng: random.Random, named: list[_Draft], seed: int
) -> list[_Draft]:
    drafts: list[_Draft] = []
    for year in cal.years:
        this_year: list[_Draft] = []
        for area, total in sorted(cal.incidents[year].items()):
            known = sum(1 for d in named if d.occurred.year == year and d.area == area)
            for month, count in enumerate(_month_counts(cal, rng, area, year, total - known), 1):
                this_year.extend(_draw(cal, rng, area, year, month) for _ in range(count))
        fixed = [d for d in named if d.occurred.year == year]
        for field in ("killed", "injured"):
            remaining = cal.casualties[year][field] - sum(getattr(d, field) for d in fixed)
            _share(cal, rng, this_year, field, remaining)
        drafts.extend(this_year)
    drafts.sort(key=lambda d: d.occurred)
    for n, draft in enumerate(drafts, start=1):
        draft.id = f"demo-{seed}-{n:05d}"
    return drafts


def _month_counts(cal: Calibration, rng: random.Random, area: str, year: int, n: int) -> list[int]:
    """`n` incidents over 12 months: multinomial on trend × episode × gamma(shape) weights."""
    weights = [
        max(_trend(cal, area, year, month), _FLOOR)
        * cal.episodes.get((area, year, month), 1.0)
        * rng.gammavariate(cal.shape, 1.0)
        for month in range(1, 13)
    ]
    counts = [0] * 12
    for month in rng.choices(range(12), weights=weights, k=max(n, 0)):
        counts[month] += 1
    return counts


def _trend(cal: Calibration, area: str, year: int, month: int) -> float:
    """The monthly level, linear between mid-year points of the yearly totals (flat at the ends)."""
    years = cal.years
    t = year + (month - 0.5) / 12
    points = [(y + 0.5, cal.incidents[y].get(area, 0) / 12) for y in years]
    if t <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def _draw(cal: Calibration, rng: random.Random, area: str, year: int, month: int) -> _Draft:
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    minute = rng.randrange(24 * 60)
    district = rng.choices(cal.districts[area], [d.weight for d in cal.districts[area]])[0]
    category = _pick(rng, cal.categories.get(area, cal.categories["default"]))
    target = cal.target_of_category.get(category) or _pick(
        rng, cal.targets.get(area, cal.targets["default"])
    )
    return _Draft(
        id="",
        occurred=datetime(year, month, day, minute // 60, minute % 60, tzinfo=cal.tz),
        date_only=False,
        area=area,
        district=district.name,
        lat=round(district.lat + rng.uniform(-cal.jitter, cal.jitter), 4),
        lon=round(district.lon + rng.uniform(-cal.jitter, cal.jitter), 4),
        category=category,
        target=target,
        perpetrator=_pick(rng, cal.perpetrators.get(area, cal.perpetrators["default"])),
        summary=f"Demo incident (synthetic): {category.replace('_', ' ')} in {district.name}.",
    )


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, [weights[n] for n in names])[0]


def _share(
    cal: Calibration, rng: random.Random, drafts: list[_Draft], field: str, total: int
) -> None:
    """Give `total` casualties to `drafts` in proportion to heavy-tailed weights, exactly."""
    if total < 0:
        raise ValueError(f"named incidents alone exceed the year's {field}")
    weights = []
    for draft in drafts:
        params = cal.lethality[draft.category]
        if rng.random() < params[f"p_zero_{field}"]:
            weights.append(0.0)
        else:
            tail = min(rng.paretovariate(cal.tail_alpha), cal.tail_cap)
            weights.append(params[field] * tail)
    whole = sum(weights)
    if not drafts or whole == 0:
        raise ValueError(f"no incident can carry {total} {field}")
    exact = [total * w / whole for w in weights]
    shares = [int(x) for x in exact]
    # Largest remainders first; ties go to the earlier draft.
    by_remainder = sorted(range(len(drafts)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    for draft, share in zip(drafts, shares, strict=True):
        setattr(draft, field, share)


def _pick_corrections(
    cal: Calibration, rng: random.Random, drafts: list[_Draft]
) -> dict[str, tuple[_Draft, timedelta]]:
    """A few incidents whose first report undercounted; their final figures come days later."""
    eligible = [d for d in drafts if d.killed >= 2]
    chosen = rng.sample(eligible, min(cal.random_corrections, len(eligible)))
    corrections = {}
    for draft in chosen:
        killed = draft.killed - rng.randint(1, max(1, draft.killed // 2))
        early = replace(
            draft,
            killed=killed,
            injured=draft.injured * killed // draft.killed,
            summary=draft.summary + " Early report.",
        )
        after = timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 23))
        corrections[draft.id] = (early, after)
    return corrections
