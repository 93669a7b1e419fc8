"""Alerts as the api reads them, made up for the page's pure tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.api.schemas import AlertOut

PKT = ZoneInfo("Asia/Karachi")


def close(day: date) -> datetime:
    """The event-time stamp of day `day`: its close (midnight after it, PKT), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), PKT).astimezone(UTC)


def fired(
    fired_day: date,
    resolved_day: date | None = None,
    *,
    province: str = "PK-BA",
    severity: str = "warning",
    rule: str = "surge_nb_tail_14d",
    id_: int = 1,
    observed: float = 22,
    expected: float = 7.4,
) -> AlertOut:
    """An alert stamped on the event-time clock that fired on `fired_day` (and resolved)."""
    return AlertOut(
        id=id_, rule=rule, method=rule.split("_")[1], metric="incidents", province=province,
        state="firing" if resolved_day is None else "resolved", severity=severity, window="14d",
        started_at=close(fired_day - timedelta(days=1)), fired_at=close(fired_day),
        resolved_at=None if resolved_day is None else close(resolved_day),
        acknowledged_at=None, acknowledged_by=None, observed=observed, expected=expected,
        threshold=2 * expected, score=None, p_value=0.001, baseline_start=None,
        baseline_end=None, explanation={}, summary=f"{observed:g} incidents in 14d",
    )  # fmt: skip
