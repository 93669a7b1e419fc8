"""Alerts detection cost: every shipped rule on every province, with 1, 5 and 15 years of history.

For each history length, seven provinces get a synthetic daily history (negative-binomial counts
at their share of ~750 incidents a year, casualties per incident Pareto-tailed). One
"evaluation" is what the worker does for one province and one day: build the daily series of
the metrics the rules use from (day, incidents, killed, injured) rows, then
`detect(series, rule, as_of)` for every rule of `services/alerts/rules.yaml`. It is timed on
`--days` consecutive days at the end of the history, after one warm-up, in CPU time of the
thread (`time.thread_time`: on a shared machine wall time measures the neighbours too; the wall
time of the whole run is printed beside it).

Figures: milliseconds per province-evaluation (median, p99); the 7 provinces × all rules total
per day (target ≤ 50 ms at 15 years); per rule; and the ratio to the shortest history, the
baseline measured in the same run (the detectors look back a bounded number of years, so more
history should cost little more).

    python -m bench.alerts_cost [--years 1,5,15] [--days 30] [--rules FILE]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from bench.support import emit, header, percentile
from services.alerts.detectors import detect
from services.alerts.evaluator import lookback_days
from services.alerts.model import Metric, Rule, Series
from services.alerts.rules import load_rules
from services.alerts.series import daily_series
from services.core.settings import DEFAULT_RULES_FILE

NAME = "alerts_cost"
TARGET_MS = 50.0
END = date(2024, 12, 31)
# Incidents a year by province, after DESIGN.md's 2023 shares (KP with the former FATA).
YEARLY = {
    "PK-KP": 420,
    "PK-BA": 260,
    "PK-SD": 40,
    "PK-PB": 15,
    "PK-IS": 3,
    "PK-JK": 3,
    "PK-GB": 3,
}


Rows = list[tuple[date, int, int, int]]


def history(years: int, seed: int = 11) -> tuple[date, dict[str, Rows]]:
    """The first day, and per province the (day, incidents, killed, injured) rows up to END."""
    rng = np.random.default_rng(seed)
    start = END - timedelta(days=365 * years - 1)
    days = (END - start).days + 1
    out: dict[str, Rows] = {}
    for province, per_year in YEARLY.items():
        mean = per_year / 365
        incidents = rng.negative_binomial(2, 2 / (2 + mean), size=days)
        killed = np.array([int((rng.pareto(1.6, n) * 1.5).sum()) for n in incidents])
        injured = np.array([int((rng.pareto(1.3, n) * 2.0).sum()) for n in incidents])
        rows = [
            (start + timedelta(days=i), int(n), int(k), int(j))
            for i, (n, k, j) in enumerate(zip(incidents, killed, injured, strict=True))
            if n
        ]
        out[province] = rows
    return start, out


def evaluate(
    start: date, rows: dict[str, Rows], rules: tuple[Rule, ...], days: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """CPU seconds per province-evaluation, per day (all provinces), and per rule call (the key
    "(series)" holds the series building, "(wall, all provinces)" the wall time per day)."""
    metrics = sorted({r.metric for r in rules})
    per_province: list[float] = []
    per_day: list[float] = []
    per_day_wall: list[float] = []
    per_rule: dict[str, list[float]] = defaultdict(list)
    as_of_days = [END - timedelta(days=d) for d in range(days, -1, -1)]
    for i, as_of in enumerate(as_of_days):
        day_total = 0.0
        wall = time.perf_counter()
        for province, province_rows in rows.items():
            started = time.thread_time()
            by_metric: dict[Metric, Series] = {
                m: daily_series(province_rows, province, m, start, as_of) for m in metrics
            }
            per_rule["(series)"].append(time.thread_time() - started)
            for rule in rules:
                t = time.thread_time()
                detect(by_metric[rule.metric], rule, as_of)
                per_rule[rule.name].append(time.thread_time() - t)
            took = time.thread_time() - started
            if i:  # the first day warms caches up
                per_province.append(took)
            day_total += took
        if i:
            per_day.append(day_total)
            per_day_wall.append(time.perf_counter() - wall)
    per_rule["(wall, all provinces)"] = per_day_wall
    return per_province, per_day, per_rule


def main(args: argparse.Namespace) -> None:
    rules = load_rules(args.rules)
    years = [int(y) for y in args.years.split(",")]
    facts = header(NAME, years=args.years, days=args.days, rules=len(rules))
    print(f"   rules: {', '.join(f'{r.name} ({r.method})' for r in rules)}")
    print(f"   the worker loads {max(lookback_days(r) for r in rules)} days per evaluation")
    results: dict[int, dict[str, float]] = {}
    rule_ms: dict[str, float] = {}
    for y in years:
        start, rows = history(y)
        started = time.perf_counter()
        per_province, per_day, per_rule = evaluate(start, rows, rules, args.days)
        ms = {
            "province_p50_ms": 1000 * percentile(per_province, 50),
            "province_p99_ms": 1000 * percentile(per_province, 99),
            "all_provinces_p50_ms": 1000 * percentile(per_day, 50),
            "all_provinces_p99_ms": 1000 * percentile(per_day, 99),
            "all_provinces_wall_p50_ms": 1000
            * percentile(per_rule.pop("(wall, all provinces)"), 50),
        }
        results[y] = ms
        if y == max(years):
            rule_ms = {name: 1000 * percentile(v, 50) for name, v in per_rule.items()}
        print(
            f"   {y:>2} years: per province {ms['province_p50_ms']:6.2f} ms p50 "
            f"{ms['province_p99_ms']:6.2f} ms p99 | 7 provinces × {len(rules)} rules "
            f"{ms['all_provinces_p50_ms']:6.1f} ms p50 {ms['all_provinces_p99_ms']:6.1f} ms p99 "
            f"(wall p50 {ms['all_provinces_wall_p50_ms']:.1f} ms) "
            f"({time.perf_counter() - started:.1f}s wall)"
        )
    top = max(years)
    base = min(years)
    print(f"   per rule at {top} years (ms per province-day, p50):")
    for name, value in sorted(rule_ms.items(), key=lambda kv: -kv[1]):
        print(f"     {name:24s} {value:7.3f}")
    worst = results[top]["all_provinces_p99_ms"]
    scale = results[top]["all_provinces_p50_ms"] / results[base]["all_provinces_p50_ms"]
    met = worst <= TARGET_MS
    print(f"   {top} y vs {base} y history: {scale:.2f}× the cost")
    print(
        f"   7 provinces × all rules at {top} years: p99 {worst:.1f} ms "
        f"(target ≤ {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'})"
    )
    emit(
        NAME,
        facts,
        rules=len(rules),
        days=args.days,
        by_years={str(y): {k: round(v, 3) for k, v in r.items()} for y, r in results.items()},
        per_rule_ms={k: round(v, 3) for k, v in rule_ms.items()},
        ratio_top_vs_base=round(scale, 2),
        target_ms=TARGET_MS,
        target_met=met,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_cost", description=__doc__)
    parser.add_argument("--years", default="1,5,15", help="history lengths, comma-separated")
    parser.add_argument("--days", type=int, default=30, help="consecutive days evaluated")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES_FILE, help="rules file")
    return parser


if __name__ == "__main__":
    main(build_parser().parse_args())
