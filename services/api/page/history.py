"""The page's look back: incidents by month and the alerts that fired. Pure, no I/O.

Computed with the picture, once per change (see `services.api.page.history_reads`), so the page
can tell the story of the last three years even when nothing is open today.

- months: the `MONTHS` calendar months ending with the month of `as_of_day` (the last one is
  partial unless `as_of_day` is its last day).
- A firing alert is *active* on the days from the day it fired up to, not including, the day it
  resolved (through `as_of_day` while it still fires; at least its firing day). A day is read
  from an instant as the alerts service stamps it: the day it falls on (live clock), or the day
  it closes (event-time clock, where the evaluation of day D is stamped at D's close).
- level of a month: the highest severity among the alerts active in it, as the page's status
  names it (info → elevated, warning → surge, critical → critical); None where none was active.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from services.api.schemas import AlertOut, Status
from services.core.gazetteer import Gazetteer

MONTHS = 36
RECENT = 12  # months the map recalls alerts for
LATEST = 12  # fired alerts listed on the page
LEVEL_OF_SEVERITY: dict[str, Status] = {
    "info": "elevated",
    "warning": "surge",
    "critical": "critical",
}
_RANK: dict[Status | None, int] = {None: 0, "normal": 0, "elevated": 1, "surge": 2, "critical": 3}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class MonthCount:
    """Incidents of one province in one calendar month (all categories and subregions)."""

    province: str
    year: int
    month: int
    incidents: int


class Strip(BaseModel):
    """One province's (or the country's) months: incidents and the level of alerts active."""

    code: str
    name: str
    counts: list[int]
    levels: list[Status | None]
    fired: int  # alerts that fired within the months shown


class Episode(BaseModel):
    """An alert that fired, with the days it fired and resolved (None: still firing)."""

    alert: AlertOut
    fired_day: date
    resolved_day: date | None


class History(BaseModel):
    months: list[date]  # the first day of each month, oldest first
    through: date  # the last day counted (as_of_day)
    provinces: list[Strip]
    national: Strip
    latest_fired: list[Episode]  # newest first, at most LATEST
    fired_total: int  # alerts that ever fired
    cleared_unfired: int  # alerts that went pending and resolved without firing

    @property
    def partial_last(self) -> bool:
        """Whether the last month is still running (its last day is after `through`)."""
        return (self.through + timedelta(days=1)).month == self.through.month


def month_starts(as_of_day: date, months: int = MONTHS) -> list[date]:
    """The first days of the `months` months ending with `as_of_day`'s month, oldest first."""
    index = as_of_day.year * 12 + as_of_day.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


def day_of(instant: datetime, tz: ZoneInfo, clock: str) -> date:
    """The day an alert's timestamp stands for (see the module docstring)."""
    aware = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    if clock == "event_time":
        aware -= timedelta(microseconds=1)
    return aware.astimezone(tz).date()


def active_span(alert: AlertOut, tz: ZoneInfo, clock: str, as_of_day: date) -> tuple[date, date]:
    """The days (first, last, inclusive) a fired alert was firing; its `fired_at` must be set."""
    assert alert.fired_at is not None
    first = day_of(alert.fired_at, tz, clock)
    if alert.resolved_at is None:
        return first, max(first, as_of_day)
    return first, max(first, day_of(alert.resolved_at, tz, clock) - timedelta(days=1))


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _levels(
    alerts: Iterable[AlertOut], months: Sequence[date], tz: ZoneInfo, clock: str, through: date
) -> tuple[list[Status | None], int]:
    """Each month's level and how many of `alerts` fired within the months."""
    levels: list[Status | None] = [None] * len(months)
    first = _month_index(months[0])
    fired = 0
    for alert in alerts:
        start, end = active_span(alert, tz, clock, through)
        level = LEVEL_OF_SEVERITY.get(alert.severity, "elevated")
        if months[0] <= start <= through:
            fired += 1
        for i in range(max(_month_index(start), first), _month_index(end) + 1):
            if i - first < len(levels) and _RANK[level] > _RANK[levels[i - first]]:
                levels[i - first] = level
    return levels, fired


def compute_history(
    gazetteer: Gazetteer,
    *,
    as_of_day: date,
    clock: str,
    monthly: Sequence[MonthCount],
    fired: Sequence[AlertOut],
    latest_fired: Sequence[AlertOut],
    fired_total: int,
    cleared_unfired: int,
) -> History:
    """The months ending with `as_of_day`'s and who was on alert in them.

    `fired`: every alert that fired and was still firing at or after the first month's start
    (others are ignored where they fall outside); `latest_fired`: the newest that fired.
    """
    months = month_starts(as_of_day)
    slot = {(m.year, m.month): i for i, m in enumerate(months)}
    tz = gazetteer.timezone
    counts = {code: [0] * len(months) for code in gazetteer.codes}
    for row in monthly:
        i = slot.get((row.year, row.month))
        if i is not None and row.province in counts:
            counts[row.province][i] += row.incidents
    alerts_of: dict[str, list[AlertOut]] = {code: [] for code in gazetteer.codes}
    for alert in fired:
        match = gazetteer.resolve(alert.province)
        if alert.fired_at is not None and match is not None:
            alerts_of[match.region.code].append(alert)
    strips = []
    for region in gazetteer.regions:
        levels, n = _levels(alerts_of[region.code], months, tz, clock, as_of_day)
        strips.append(
            Strip(
                code=region.code,
                name=region.name,
                counts=counts[region.code],
                levels=levels,
                fired=n,
            )
        )
    every = [a for mine in alerts_of.values() for a in mine]
    levels, n = _levels(every, months, tz, clock, as_of_day)
    national = Strip(
        code=gazetteer.country,
        name=gazetteer.country,
        counts=[sum(c[i] for c in counts.values()) for i in range(len(months))],
        levels=levels,
        fired=n,
    )
    return History(
        months=months,
        through=as_of_day,
        provinces=strips,
        national=national,
        latest_fired=[
            Episode(
                alert=a,
                fired_day=day_of(a.fired_at, tz, clock),
                resolved_day=None if a.resolved_at is None else day_of(a.resolved_at, tz, clock),
            )
            for a in latest_fired[:LATEST]
            if a.fired_at is not None
        ],
        fired_total=fired_total,
        cleared_unfired=cleared_unfired,
    )


def month_name(month: date) -> str:
    return f"{_MONTH_NAMES[month.month - 1]} {month.year}"


def month_runs(months: Sequence[date], flags: Sequence[bool]) -> str:
    """The flagged months as runs, grouped by year: 'Aug, Nov–Dec 2023; Apr–May 2024'.

    A run across new year stands on its own: 'Dec 2023–Jan 2024'.
    """
    runs: list[tuple[date, date]] = []
    for month, flag in zip(months, flags, strict=True):
        if not flag:
            continue
        if runs and _month_index(month) == _month_index(runs[-1][1]) + 1:
            runs[-1] = (runs[-1][0], month)
        else:
            runs.append((month, month))
    groups: list[tuple[int | None, list[str]]] = []
    for start, end in runs:
        if start.year != end.year:
            groups.append((None, [f"{month_name(start)}–{month_name(end)}"]))
            continue
        a, b = _MONTH_NAMES[start.month - 1], _MONTH_NAMES[end.month - 1]
        text = a if start == end else f"{a}–{b}"
        if groups and groups[-1][0] == start.year:
            groups[-1][1].append(text)
        else:
            groups.append((start.year, [text]))
    return "; ".join(
        ", ".join(parts) if year is None else f"{', '.join(parts)} {year}" for year, parts in groups
    )


def alert_months(strip: Strip, months: Sequence[date], last: int | None = None) -> str:
    """The months `strip` had a firing alert in (of the `last` ones only, if given), in words."""
    flags = [level is not None for level in strip.levels]
    start = 0 if last is None else max(0, len(months) - last)
    return month_runs(months[start:], flags[start:])
