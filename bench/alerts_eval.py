"""How well do the shipped rules catch surges, and what do they cost? Prints the figures.

    .venv/bin/python -m bench.alerts_eval [--quick] [--rules FILE] [--replicates N]

For every rule of the rules file (one per method in the shipped set) and for the set as a whole
(some rule fires), on the seeded provinces of tests/alerts/scenarios.py, evaluated daily through
`detect` + `lifecycle.step` exactly as the worker does:

- recall@14d: the share of surges for which a firing transition happens within 14 days of the
  surge's start, by density × multiplier × duration;
- recall: the same, any time until a week after the surge ends;
- median delay: days from the start to the first firing, over the surges caught;
- false alarms: firing episodes per province-year on in-control provinces (years 2–3 of 3);
- cost: milliseconds to evaluate every rule for 7 provinces with 1, 5 and 15 years of history.

Replicates are held out from the ones the rules were tuned on (0–3). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import numpy as np

from services.alerts.detectors import detect
from services.alerts.model import Rule, Series
from services.alerts.rules import load_rules
from services.core.settings import DEFAULT_RULES_FILE
from tests.alerts.scenarios import (
    DENSITIES,
    DURATION_WEEKS,
    MULTIPLIERS,
    START,
    YEAR,
    Scenario,
    evaluate,
    generate,
    in_control_scenarios,
    surge_scenarios,
)

SET = "(any rule)"
HELD_OUT = 10  # first replicate index used here; tuning used 0–3


def within(day: int | None, limit: int) -> bool:
    return day is not None and day <= limit


def surge_outcomes(
    rules: tuple[Rule, ...], replicates: int
) -> list[tuple[Scenario, dict[str, int | None]]]:
    """Per surge: for each rule (and the set) the day offset of its first firing, or None."""
    out = []
    for sc in surge_scenarios(replicates, first=HELD_OUT):
        end = min(sc.surge_start + sc.surge_days + 7, sc.days)
        run = evaluate(generate(sc), rules, sc.surge_start, end)
        first: dict[str, int | None] = {}
        for rule in rules:
            days = [e.firing - sc.surge_start for e in run.fired(rule.name) if e.firing is not None]
            first[rule.name] = min(days) if days else None
        caught = [d for d in first.values() if d is not None]
        first[SET] = min(caught) if caught else None
        out.append((sc, first))
    return out


def false_alarms(rules: tuple[Rule, ...], replicates: int) -> dict[str, dict[str, list[float]]]:
    """Per rule (and the set), per density: firing episodes per province-year of each series."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sc in in_control_scenarios(replicates, first=HELD_OUT):
        run = evaluate(generate(sc), rules, YEAR, sc.days)
        years = (sc.days - YEAR) / YEAR
        for rule in rules:
            out[rule.name][sc.density].append(len(run.fired(rule.name)) / years)
        out[SET][sc.density].append(len(run.fired()) / years)
    return out


def cost_ms(rules: tuple[Rule, ...], years: int, repeats: int = 15) -> float:
    """Median wall time of one evaluation of every rule for 7 provinces (dense to sparse)."""
    rng = np.random.default_rng(years)
    rates = (30, 25, 12, 5, 2, 1, 0.5)  # incidents a week, like KP … Islamabad
    provinces = [
        Series(f"P{i}", "incidents", START, rng.poisson(r / 7, years * YEAR).astype(np.int64))
        for i, r in enumerate(rates)
    ]
    as_of = START + timedelta(days=years * YEAR - 1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for series in provinces:
            for rule in rules:
                detect(series, rule, as_of)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES_FILE)
    parser.add_argument("--replicates", type=int, default=4, help="per surge cell (x2 noises)")
    parser.add_argument("--control", type=int, default=6, help="in-control series per shape")
    parser.add_argument("--quick", action="store_true", help="1 replicate each")
    args = parser.parse_args(argv)
    if args.quick:
        args.replicates = args.control = 1
    rules = load_rules(args.rules)
    names = [r.name for r in rules] + [SET]
    t0 = time.perf_counter()
    surges = surge_outcomes(rules, args.replicates)
    alarms = false_alarms(rules, args.control)
    width = max(len(n) for n in names)

    print(f"rules: {args.rules}  ({len(rules)} rules; surges per cell: {2 * args.replicates})")
    print("\nrecall@14d by density × multiplier × duration (weeks); the set = some rule fires")
    header = f"{'density':8} {'mult':>4} {'wk':>3} " + " ".join(f"{n[:12]:>12}" for n in names)
    print(header)
    cells: dict[tuple[str, float, int], list[dict[str, int | None]]] = defaultdict(list)
    for sc, first in surges:
        cells[(sc.density, sc.multiplier, sc.surge_days // 7)].append(first)
    for density in DENSITIES:
        for mult in MULTIPLIERS:
            for weeks in DURATION_WEEKS:
                got = cells[(density, mult, weeks)]
                row = " ".join(f"{np.mean([within(f[n], 14) for f in got]):12.2f}" for n in names)
                print(f"{density:8} {mult:4.1f} {weeks:3d} {row}")

    print("\nper rule: recall@14d and recall (until a week after the surge) of >= 2x surges")
    print("lasting >= 3 weeks, median delay (days), false alarms per province-year by density")
    print(f"{'rule':{width}} {'dens':6} {'rec@14':>7} {'recall':>7} {'delay':>6} {'FA/yr':>6}")
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in names:
        summary[name] = {}
        for density in DENSITIES:
            picked = [
                f[name]
                for sc, f in surges
                if sc.density == density and sc.multiplier >= 2 and sc.surge_days >= 21
            ]
            caught = [d for d in picked if d is not None]
            rec14 = float(np.mean([within(d, 14) for d in picked]))
            rec = len(caught) / len(picked)
            delay = float(statistics.median(caught)) if caught else None
            fa = float(np.mean(alarms[name][density]))
            summary[name][density] = {
                "recall_14d": round(rec14, 3),
                "recall": round(rec, 3),
                "median_delay_days": delay,
                "false_alarms_per_year": round(fa, 3),
            }
            shown = f"{delay:6.1f}" if delay is not None else f"{'-':>6}"
            print(f"{name:{width}} {density:6} {rec14:7.2f} {rec:7.2f} {shown} {fa:6.2f}")
    pooled = {
        name: round(float(np.mean([x for d in DENSITIES for x in alarms[name][d]])), 3)
        for name in names
    }
    print("\nfalse alarms per province-year, all densities pooled:")
    for name in names:
        print(f"  {name:{width}} {pooled[name]:.2f}")

    print("\nevaluation cost: every rule, 7 provinces (median of 15 runs)")
    cost = {}
    for years in (1, 5, 15):
        cost[years] = round(cost_ms(rules, years), 2)
        print(f"  {years:2d} years of daily history: {cost[years]:7.2f} ms")
    elapsed = time.perf_counter() - t0
    print(f"\n(evaluated in {elapsed:.0f} s)")
    print(
        json.dumps(
            {
                "bench": "alerts_eval",
                "rules": [r.name for r in rules],
                "surges": len(surges),
                "in_control_series": sum(len(v) for v in alarms[SET].values()),
                "by_rule": summary,
                "false_alarms_per_year_pooled": pooled,
                "cost_ms_7_provinces": {f"{y}y": c for y, c in cost.items()},
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
