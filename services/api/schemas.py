"""Response (and request) models: the JSON shapes of DESIGN.md's API, and a little more.

Every timestamp is RFC 3339 UTC. SQLite hands back naive datetimes; `utc` makes them aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.core.models import AlertRow, AlertTransitionRow, IncidentRow, RejectionRow

Status = Literal["normal", "elevated", "surge", "critical"]
Trend = Literal["rising", "falling", "steady"]
STATUSES: tuple[Status, ...] = ("normal", "elevated", "surge", "critical")


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = None
    reason: str | None = None


class Band(BaseModel):
    """The range counts usually fall in: expected ± 2√expected (a Poisson rule of thumb)."""

    low: float
    high: float


class Counts(BaseModel):
    incidents_7d: int
    killed_7d: int
    injured_7d: int
    incidents_28d: int
    killed_28d: int
    injured_28d: int
    incidents_prior_7d: int = Field(description="incidents in the 7 days before the last 7")
    incidents_prior_28d: int = Field(description="incidents in the 28 days before the last 28")
    change_pct: float | None = Field(
        description="7d vs the prior 7d in percent; null when the prior is 0 or not on record"
    )
    trend: Trend
    trend_p_value: float | None = Field(
        description="two-sided Poisson (conditional binomial) test of the last 28d vs the prior"
    )


class SubregionPicture(Counts):
    code: str
    name: str


class AlertOut(BaseModel):
    id: int
    rule: str
    method: str
    metric: str
    province: str
    state: str
    severity: str
    window: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    observed: float
    expected: float
    threshold: float
    score: float | None
    p_value: float | None
    baseline_start: date | None
    baseline_end: date | None
    explanation: dict[str, Any]
    summary: str = Field(description="the explanation in one sentence")

    @classmethod
    def from_row(cls, row: AlertRow) -> AlertOut:
        return cls(
            id=row.id,
            rule=row.rule,
            method=row.method,
            metric=row.metric,
            province=row.province,
            state=row.state,
            severity=row.severity,
            window=row.window,
            started_at=utc(row.started_at),
            fired_at=opt_utc(row.fired_at),
            resolved_at=opt_utc(row.resolved_at),
            acknowledged_at=opt_utc(row.acknowledged_at),
            acknowledged_by=row.acknowledged_by,
            observed=row.observed,
            expected=row.expected,
            threshold=row.threshold,
            score=row.score,
            p_value=row.p_value,
            baseline_start=row.baseline_start,
            baseline_end=row.baseline_end,
            explanation=row.explanation or {},
            summary=explain(row),
        )


def explain(row: AlertRow) -> str:
    """'9 incidents in 7d vs 2.3 expected (threshold 4.5; ratio, baseline 2024-01-01–…)'."""
    text = (
        f"{row.observed:g} {row.metric} in {row.window} vs {row.expected:.1f} expected "
        f"(threshold {row.threshold:.1f}; method {row.method}"
    )
    if row.score is not None:
        text += f", score {row.score:.2f}"
    if row.p_value is not None:
        text += f", p = {row.p_value:.2g}"
    if row.baseline_start and row.baseline_end:
        text += f"; baseline {row.baseline_start.isoformat()} to {row.baseline_end.isoformat()}"
    return text + ")"


class ProvincePicture(Counts):
    code: str
    name: str
    status: Status
    expected_incidents_7d: float | None = Field(
        description="weekly mean of the 52 weeks before the 7d window (fewer where history "
        "is shorter); null with under a week of history"
    )
    expected_incidents_28d: float | None
    band: Band | None
    alerts: list[AlertOut]
    subregions: list[SubregionPicture]


class NationalPicture(Counts):
    expected_incidents_7d: float | None
    active_alerts: int = Field(description="open alerts: pending or firing")
    firing_alerts: int


class Picture(BaseModel):
    as_of: datetime = Field(
        description="live clock: when the picture was computed; event-time clock: the close "
        "of the newest event day"
    )
    as_of_day: date = Field(description="the last day counted, in the gazetteer's time zone")
    clock: Literal["live", "event_time"]
    national: NationalPicture
    provinces: list[ProvincePicture]
    method: dict[str, str] = Field(description="how status, expected, change and trend are made")


class ProvinceList(BaseModel):
    as_of: datetime
    as_of_day: date
    items: list[ProvincePicture]


class SeriesPoint(BaseModel):
    start: date
    value: int


class SeriesOut(BaseModel):
    province: str
    subregion: str | None
    metric: str
    interval: str
    since: date
    until: date
    points: list[SeriesPoint]


class IncidentOut(BaseModel):
    source: str
    id: str
    version: int
    occurred_at: datetime
    day: date
    province: str
    subregion: str | None
    district: str | None
    category: str
    target: str | None
    perpetrator: str | None
    killed: int
    injured: int
    lat: float | None
    lon: float | None
    summary: str | None
    url: str | None
    retracted: bool
    received_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: IncidentRow) -> IncidentOut:
        return cls(
            source=row.source,
            id=row.id,
            version=row.version,
            occurred_at=utc(row.occurred_at),
            day=row.day,
            province=row.province,
            subregion=row.subregion,
            district=row.district,
            category=row.category,
            target=row.target,
            perpetrator=row.perpetrator,
            killed=row.killed,
            injured=row.injured,
            lat=row.lat,
            lon=row.lon,
            summary=row.summary,
            url=row.url,
            retracted=bool(row.retracted),
            received_at=utc(row.received_at),
            updated_at=utc(row.updated_at),
        )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class IncidentVersionOut(BaseModel):
    version: int
    event_id: str
    received_at: datetime
    data: dict[str, Any]


class RetractionOut(BaseModel):
    reason: str | None
    event_id: str
    retracted_at: datetime


class IncidentDetail(IncidentOut):
    event_id: str
    retraction: RetractionOut | None
    versions: list[IncidentVersionOut]


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class TransitionOut(BaseModel):
    seq: int
    alert_id: int
    from_state: str | None
    to_state: str
    at: datetime
    recorded_at: datetime
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: AlertTransitionRow) -> TransitionOut:
        return cls(
            seq=row.seq,
            alert_id=row.alert_id,
            from_state=row.from_state,
            to_state=row.to_state,
            at=utc(row.at),
            recorded_at=utc(row.recorded_at),
            details=row.details or {},
        )


class AlertDetail(AlertOut):
    transitions: list[TransitionOut]


class AckIn(BaseModel):
    """Who acknowledges, and why; both optional."""

    by: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[^\x00]*$")
    note: str | None = Field(None, max_length=1000, pattern=r"^[^\x00]*$")


class RejectionOut(BaseModel):
    seq: int
    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    received_at: datetime
    headers: dict[str, Any]
    size: int | None = Field(description="bytes of the rejected message (null: none)")
    preview: str | None = Field(description="its first 512 bytes as text, undecodable bytes as �")

    @classmethod
    def from_row(cls, row: RejectionRow) -> RejectionOut:
        raw = row.raw
        return cls(
            seq=row.seq,
            topic=row.topic,
            partition=row.partition,
            offset=row.offset,
            reason=row.reason,
            detail=row.detail,
            received_at=utc(row.received_at),
            headers=row.headers or {},
            size=None if raw is None else len(raw),
            preview=None if raw is None else raw[:512].decode("utf-8", errors="replace"),
        )


class RejectionPage(BaseModel):
    items: list[RejectionOut]
    next_cursor: str | None


class AcceptedOut(BaseModel):
    id: str = Field(description="the CloudEvent id")
    source: str
    incident_id: str
    type: str
    topic: str


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "unready"]
    checks: dict[str, Check]


class Liveness(BaseModel):
    status: Literal["ok"]
