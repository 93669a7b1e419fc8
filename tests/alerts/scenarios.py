"""Seeded synthetic provinces for the acceptance tests and bench/alerts_eval.py.

A province's daily incident counts over `days` (3 years by default):

    rate(d) = weekly_rate/7 · (1 + seasonality·sin(2πd/365.25)) · (1 + trend·d/365)
              · (multiplier while the surge lasts, else 1)
    poisson : x_d ~ Poisson(rate(d))
    negbin  : x_d ~ NegBin(mean rate(d), size rate(d)/(D−1)): variance = D × mean on every
              day, hence on every week too (dispersion index D = 2: 25/week → sd 7.1 instead
              of 5; a sparse province's events come in clusters — two or three on one day).

`evaluate` runs rules over a series exactly as the worker does: `detect` once a day, each
verdict through `lifecycle.step`, and reports the alert episodes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from services.alerts.detectors import detect
from services.alerts.lifecycle import AlertState, step
from services.alerts.model import Rule, Series

START = date(2021, 1, 1)
YEAR = 365
DENSITIES: dict[str, float] = {"sparse": 1.0, "medium": 5.0, "dense": 25.0}
MULTIPLIERS = (1.5, 2.0, 3.0)
DURATION_WEEKS = (1, 2, 3, 4, 6, 8)
Noise = Literal["poisson", "negbin"]
NOISES: tuple[Noise, ...] = ("poisson", "negbin")
DISPERSION = 2.0


@dataclass(frozen=True)
class Scenario:
    density: str
    noise: Noise = "poisson"
    multiplier: float = 1.0
    surge_start: int = 0  # day index; only meaningful when surge_days > 0
    surge_days: int = 0
    seasonality: float = 0.0
    trend: float = 0.0  # relative change of the rate per year
    days: int = 3 * YEAR
    seed: int = 0

    @property
    def weekly_rate(self) -> float:
        return DENSITIES[self.density]

    @property
    def surged(self) -> bool:
        return self.surge_days > 0 and self.multiplier != 1.0


def rate(sc: Scenario) -> npt.NDArray[np.float64]:
    d = np.arange(sc.days, dtype=float)
    r = sc.weekly_rate / 7 * (1 + sc.seasonality * np.sin(2 * np.pi * d / 365.25))
    r = r * (1 + sc.trend * d / YEAR)
    if sc.surged:
        r[sc.surge_start : sc.surge_start + sc.surge_days] *= sc.multiplier
    return r


def generate(sc: Scenario) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(sc.seed)
    r = rate(sc)
    if sc.noise == "negbin":  # gamma-Poisson mixture with shape rate/(D-1), scale D-1
        r = rng.gamma(r / (DISPERSION - 1), DISPERSION - 1)
    return rng.poisson(r).astype(np.int64)


def seed_of(*parts: object) -> int:
    """A stable seed from a scenario's description (same numbers on every run and machine)."""
    return zlib.crc32(repr(parts).encode())


def surge_scenarios(
    replicates: int,
    first: int = 0,
    multipliers: Sequence[float] = MULTIPLIERS,
    weeks: Sequence[int] = DURATION_WEEKS,
) -> list[Scenario]:
    """Every density × multiplier × duration × noise, replicates `first` … `first+replicates-1`,
    each starting at a seeded random day of the last two years (so a year of baseline exists).
    The shipped rules were tuned on replicates 0–3; tests and bench evaluate on others."""
    out = []
    for density in DENSITIES:
        for multiplier in multipliers:
            for n_weeks in weeks:
                for noise in NOISES:
                    for rep in range(first, first + replicates):
                        seed = seed_of("surge", density, multiplier, n_weeks, noise, rep)
                        start = YEAR + int(
                            np.random.default_rng(seed).integers(0, 2 * YEAR - 7 * n_weeks)
                        )
                        out.append(
                            Scenario(density, noise, multiplier, start, 7 * n_weeks, seed=seed)
                        )
    return out


def in_control_scenarios(replicates: int, first: int = 0) -> list[Scenario]:
    """Every density under Poisson and negative-binomial noise, plain and with mild seasonality
    (±20 %) and trend (+15 %/year), replicates `first` … `first+replicates-1` (tuning used 0–2)."""
    shapes = [(0.0, 0.0), (0.2, 0.15)]
    return [
        Scenario(density, noise, seasonality=s, trend=t, seed=seed_of(density, noise, s, t, rep))
        for density in DENSITIES
        for noise in NOISES
        for s, t in shapes
        for rep in range(first, first + replicates)
    ]


@dataclass
class Episode:
    """One alert of one rule: the day indexes it went pending, firing (or never), resolved."""

    rule: str
    pending: int
    firing: int | None = None
    resolved: int | None = None


@dataclass
class Run:
    episodes: list[Episode] = field(default_factory=list)

    def fired(self, rule: str | None = None) -> list[Episode]:
        return [
            e for e in self.episodes if e.firing is not None and (rule is None or e.rule == rule)
        ]


def evaluate(
    values: npt.NDArray[np.int64],
    rules: Iterable[Rule],
    first: int,
    last: int,
    start: date = START,
) -> Run:
    """Evaluate every rule on day indexes first … last-1 as the worker does: detect, then step
    (once a day, at midnight UTC of the evaluated day). `values[0]` is the count on `start`."""
    series = Series("PK-XX", "incidents", start, values)
    run = Run()
    for rule in rules:
        state: AlertState | None = None
        current: Episode | None = None
        for day in range(first, last):
            today = start + timedelta(days=day)
            finding = detect(series, rule, today)
            at = datetime.combine(today, time(), tzinfo=UTC)
            state, moves = step(state, finding.fired, rule, at)
            for move in moves:
                if move.to == "pending":
                    current = Episode(rule.name, day)
                    run.episodes.append(current)
                elif move.to == "firing" and current is not None:
                    current.firing = day
                elif move.to == "resolved" and current is not None:
                    current.resolved = day
    return run


# ---- Pakistan 2022–2024, from public annual figures ------------------------------------

PAKISTAN_START = date(2022, 1, 1)
# Attacks a year. 2022 ≈ 380 nationally; 2023 600+ (620 here) with KP 37 % + former FATA 29 %
# (= 409 in PK-KP), Sindh 35, Punjab 14, AJK, GB and Islamabad one each, Balochistan the rest
# (159). 2022 is split like 2023. 2024 applies the 2023 → 2024 changes: Balochistan +96 %,
# Sindh +47 %, KP −24 %, Punjab −85 %, Gilgit-Baltistan −65 %; the rest unchanged.
PAKISTAN_ATTACKS: dict[str, tuple[float, float, float]] = {
    "PK-KP": (409 * 380 / 620, 409, 409 * 0.76),
    "PK-BA": (159 * 380 / 620, 159, 159 * 1.96),
    "PK-SD": (35 * 380 / 620, 35, 35 * 1.47),
    "PK-PB": (14 * 380 / 620, 14, 14 * 0.15),
    "PK-JK": (1 * 380 / 620, 1, 1),
    "PK-GB": (1 * 380 / 620, 1, 1 * 0.35),
    "PK-IS": (1 * 380 / 620, 1, 1),
}


def pakistan(seed: int = 2024, noise: Noise = "negbin") -> dict[str, npt.NDArray[np.int64]]:
    """Daily attacks per province for 2022-01-01 … 2024-12-31: each year's total spread evenly
    over its days (the rate steps at new year), with the generator's noise."""
    rng = np.random.default_rng(seed)
    out = {}
    for code, totals in PAKISTAN_ATTACKS.items():
        rate = np.concatenate(
            [
                np.full(
                    (date(y + 1, 1, 1) - date(y, 1, 1)).days,
                    total / (date(y + 1, 1, 1) - date(y, 1, 1)).days,
                )
                for y, total in zip((2022, 2023, 2024), totals, strict=True)
            ]
        )
        if noise == "negbin":
            rate = rng.gamma(rate / (DISPERSION - 1), DISPERSION - 1)
        out[code] = rng.poisson(rate).astype(np.int64)
    return out
