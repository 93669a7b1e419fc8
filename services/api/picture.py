"""The picture, computed from daily counts and open alerts: a pure function, no I/O.

Windows end on `as_of_day` and include it: "7d" is as_of_day−6 … as_of_day, "prior 7d" the seven
days before that; likewise 28d.

- status: from the province's open alerts. critical = a firing alert of severity critical;
  surge = a firing alert of severity warning; elevated = any pending alert, or a firing one of
  severity info; normal = no open alert.
- expected_incidents_7d: the weekly mean of incidents over the 52 weeks before the 7d window,
  shortened to the history on record (the first day in daily_counts); null with less than a week
  of history. expected_incidents_28d is four times that. band = expected ± 2√expected.
- change_pct: 7d against the prior 7d, in percent; null when the prior is 0 or precedes history.
- trend: the last 28d against the prior 28d by the conditional test of two Poisson counts (given
  a + b, a ~ Binomial(a + b, ½)); rising or falling where the two-sided p < 0.05, else steady
  (also steady when the prior 28d precede history).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scipy.stats import binomtest

from services.api.schemas import (
    AlertOut,
    Band,
    Counts,
    NationalPicture,
    Picture,
    ProvincePicture,
    Status,
    SubregionPicture,
    Trend,
)
from services.core.gazetteer import Gazetteer

BASELINE_WEEKS = 52
TREND_ALPHA = 0.05
# The oldest day the picture reads: the baseline's first day.
LOOKBACK_DAYS = 7 + BASELINE_WEEKS * 7 - 1
# Every window is a union of these disjoint spans, in days before as_of_day (newest, oldest):
# 7d = the first, prior 7d the second, 28d the first three, prior 28d the fourth, the baseline
# the second to the last (clipped to history, before which no day has incidents). So counts
# summed per span, each dated by its newest day, give every window's total (`span_totals`).
SPANS = ((0, 6), (7, 13), (14, 27), (28, 55), (56, LOOKBACK_DAYS))

METHOD = {
    "status": "critical: a firing alert of severity critical; surge: a firing warning; "
    "elevated: a pending alert or a firing info; normal: no open alert",
    "expected": f"weekly mean of incidents over the {BASELINE_WEEKS} weeks before the 7-day "
    "window (shorter where history is); band = expected ± 2√expected",
    "change_pct": "last 7 days vs the 7 days before, in percent; null when that is 0",
    "trend": "last 28 days vs the 28 before, two-sided Poisson test (conditional binomial), "
    f"rising/falling where p < {TREND_ALPHA}",
}


@dataclass(frozen=True, slots=True)
class DayCount:
    """One day's counts of one province (and subregion: '' where none), all categories summed;
    or, equally good for the windows, a `SPANS` span's counts dated by its newest day."""

    province: str
    subregion: str
    day: date
    incidents: int
    killed: int
    injured: int


@dataclass(frozen=True, slots=True)
class Windows:
    """The day spans the picture sums over, all inclusive."""

    as_of_day: date
    history_start: date | None

    def last(self, days: int) -> tuple[date, date]:
        return self.as_of_day - timedelta(days=days - 1), self.as_of_day

    def prior(self, days: int) -> tuple[date, date]:
        return (
            self.as_of_day - timedelta(days=2 * days - 1),
            self.as_of_day - timedelta(days=days),
        )

    def baseline(self) -> tuple[date, date] | None:
        """The baseline span, clipped to history; None if it holds less than a week."""
        if self.history_start is None:
            return None
        end = self.as_of_day - timedelta(days=7)
        start = max(end - timedelta(days=BASELINE_WEEKS * 7 - 1), self.history_start)
        return (start, end) if (end - start).days + 1 >= 7 else None

    def on_record(self, span: tuple[date, date]) -> bool:
        return self.history_start is not None and self.history_start <= span[0]


def _total(rows: Iterable[DayCount], span: tuple[date, date], field: str) -> int:
    return sum(getattr(r, field) for r in rows if span[0] <= r.day <= span[1])


@functools.lru_cache(maxsize=256)  # the exact test takes ~0.5 ms; most counts change rarely
def trend_of(recent: int, prior: int) -> tuple[Trend, float | None]:
    """Rising, falling or steady: are two Poisson counts over equal spans different?"""
    if recent + prior == 0:
        return "steady", None
    p = float(binomtest(recent, recent + prior, 0.5).pvalue)
    if p >= TREND_ALPHA:
        return "steady", p
    return ("rising" if recent > prior else "falling"), p


def counts_of(rows: Sequence[DayCount], win: Windows) -> Counts:
    last7, last28 = win.last(7), win.last(28)
    prior7, prior28 = win.prior(7), win.prior(28)
    now7, before7 = _total(rows, last7, "incidents"), _total(rows, prior7, "incidents")
    now28, before28 = _total(rows, last28, "incidents"), _total(rows, prior28, "incidents")
    change = None
    if before7 and win.on_record(prior7):
        change = round((now7 - before7) / before7 * 100, 1)
    trend, p = trend_of(now28, before28) if win.on_record(prior28) else ("steady", None)
    return Counts(
        incidents_7d=now7,
        killed_7d=_total(rows, last7, "killed"),
        injured_7d=_total(rows, last7, "injured"),
        incidents_28d=now28,
        killed_28d=_total(rows, last28, "killed"),
        injured_28d=_total(rows, last28, "injured"),
        incidents_prior_7d=before7,
        incidents_prior_28d=before28,
        change_pct=change,
        trend=trend,
        trend_p_value=p,
    )


def expected_7d(rows: Sequence[DayCount], win: Windows) -> float | None:
    span = win.baseline()
    if span is None:
        return None
    weeks = ((span[1] - span[0]).days + 1) / 7
    return round(_total(rows, span, "incidents") / weeks, 3)


def band_of(expected: float | None) -> Band | None:
    if expected is None:
        return None
    spread = 2 * math.sqrt(expected)
    return Band(low=round(max(0.0, expected - spread), 3), high=round(expected + spread, 3))


def status_of(alerts: Sequence[AlertOut]) -> Status:
    firing = {a.severity for a in alerts if a.state == "firing"}
    if "critical" in firing:
        return "critical"
    if "warning" in firing:
        return "surge"
    if firing or any(a.state == "pending" for a in alerts):
        return "elevated"
    return "normal"


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def compute_picture(
    gazetteer: Gazetteer,
    *,
    as_of: datetime,
    as_of_day: date,
    clock: str,
    history_start: date | None,
    counts: Sequence[DayCount],
    alerts: Sequence[AlertOut],
) -> Picture:
    """The national and per-province picture as of `as_of_day` (see the module docstring)."""
    win = Windows(as_of_day, history_start)
    by_province: dict[str, list[DayCount]] = {code: [] for code in gazetteer.codes}
    for row in counts:
        by_province.setdefault(row.province, []).append(row)
    open_alerts = [a for a in alerts if a.state in ("pending", "firing")]
    alerts_of: dict[str, list[AlertOut]] = {code: [] for code in gazetteer.codes}
    for alert in open_alerts:
        match = gazetteer.resolve(alert.province)
        if match is not None:
            alerts_of[match.region.code].append(alert)
    provinces = []
    for region in gazetteer.regions:
        rows = by_province[region.code]
        mine = sorted(
            alerts_of[region.code],
            key=lambda a: (a.state != "firing", _SEVERITY_ORDER.get(a.severity, 9), a.id),
        )
        expected = expected_7d(rows, win)
        subregions = [
            SubregionPicture(
                code=sub.code,
                name=sub.name,
                **counts_of([r for r in rows if r.subregion == sub.code], win).model_dump(),
            )
            for sub in gazetteer.subregions
            if (m := gazetteer.resolve(sub.code)) is not None and m.region.code == region.code
        ]
        provinces.append(
            ProvincePicture(
                code=region.code,
                name=region.name,
                status=status_of(mine),
                expected_incidents_7d=expected,
                expected_incidents_28d=None if expected is None else round(expected * 4, 3),
                band=band_of(expected),
                alerts=mine,
                subregions=subregions,
                **counts_of(rows, win).model_dump(),
            )
        )
    known = [r for r in counts if r.province in gazetteer.codes]
    national = NationalPicture(
        expected_incidents_7d=expected_7d(known, win),
        active_alerts=len(open_alerts),
        firing_alerts=sum(a.state == "firing" for a in open_alerts),
        **counts_of(known, win).model_dump(),
    )
    return Picture(
        as_of=as_of,
        as_of_day=as_of_day,
        clock="event_time" if clock == "event_time" else "live",
        national=national,
        provinces=provinces,
        method=METHOD,
    )
