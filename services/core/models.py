"""The database: the source of truth every service reads and only its owner writes.

Owners: ingest writes incidents, versions, retractions, daily counts, rejections and its
offsets; alerts writes alerts and their transitions; the api writes acknowledgements through
the same transition table. Migrations live in `services/core/migrations`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")
UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UtcDateTime}  # noqa: RUF012


class IncidentRow(Base):
    """The current version of each incident. Retracted ones stay, flagged, out of every count."""

    __tablename__ = "incidents"

    source: Mapped[str] = mapped_column(String(256), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    day: Mapped[date] = mapped_column(Date)
    province: Mapped[str] = mapped_column(String(8))
    subregion: Mapped[str | None] = mapped_column(String(8))
    district: Mapped[str | None] = mapped_column(String(100))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(32))
    perpetrator: Mapped[str | None] = mapped_column(String(100))
    killed: Mapped[int] = mapped_column(Integer)
    injured: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    retracted: Mapped[bool] = mapped_column(Boolean, default=False)
    event_id: Mapped[str] = mapped_column(String(256))
    received_at: Mapped[datetime]  # first version's arrival
    updated_at: Mapped[datetime]  # latest change (new version or retraction)

    __table_args__ = (
        Index("ix_incidents_province_day", "province", "day"),
        Index("ix_incidents_occurred_at", "occurred_at", "source", "id"),
    )


class IncidentVersionRow(Base):
    """Every version of every incident as it arrived, the current one included."""

    __tablename__ = "incident_versions"

    source: Mapped[str] = mapped_column(String(256), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(256))
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class RetractionRow(Base):
    """A retraction, kept even for an incident not seen yet so a late report stays retracted."""

    __tablename__ = "retractions"

    source: Mapped[str] = mapped_column(String(256), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str] = mapped_column(String(256))
    retracted_at: Mapped[datetime]


class DailyCountRow(Base):
    """Counts of live (not retracted) incidents by province, subregion, category and day.

    `subregion` is '' where there is none, so it can sit in the primary key. Province totals are
    sums over subregion and category.
    """

    __tablename__ = "daily_counts"

    province: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    subregion: Mapped[str] = mapped_column(String(8), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    incidents: Mapped[int] = mapped_column(Integer, default=0)
    killed: Mapped[int] = mapped_column(Integer, default=0)
    injured: Mapped[int] = mapped_column(Integer, default=0)


class ConsumerOffsetRow(Base):
    """The next offset to read, written in the same transaction as the data it produced."""

    __tablename__ = "consumer_offsets"

    group_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    topic: Mapped[str] = mapped_column(String(256), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class RejectionRow(Base):
    """A message that failed `parse`: reason, detail and the raw bytes, for the API to show.

    Also the DLQ's outbox: `published_at` is set once the message is on `incidents.dlq`; ingest
    relays rows left unpublished (a crash between the commit and the publish).
    """

    __tablename__ = "rejections"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(256))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("uq_rejections_position", "topic", "partition", "offset", unique=True),
        Index("ix_rejections_received_at", "received_at"),
        Index(
            "ix_rejections_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


OPEN_STATES = ("pending", "firing")


class AlertRow(Base):
    """One alert: a (province, rule) episode from pending to resolved, with its explanation.

    At most one open (pending or firing) alert per (province, rule), enforced by a partial
    unique index. Times are event times under the event-time clock.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(32))
    province: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))  # pending, firing, resolved
    severity: Mapped[str] = mapped_column(String(16))
    window: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_true_at: Mapped[datetime]  # the condition's last true evaluation (keep_firing_for)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    baseline_start: Mapped[date | None] = mapped_column(Date)
    baseline_end: Mapped[date | None] = mapped_column(Date)
    explanation: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "uq_alerts_open_per_rule",
            "province",
            "rule",
            unique=True,
            postgresql_where=text("state IN ('pending', 'firing')"),
            sqlite_where=text("state IN ('pending', 'firing')"),
        ),
        Index("ix_alerts_state_province", "state", "province"),
    )


class AlertTransitionRow(Base):
    """Every state change of every alert, in order; `seq` doubles as the SSE event id."""

    __tablename__ = "alert_transitions"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))  # pending, firing, resolved, acknowledged
    at: Mapped[datetime]  # event time or wall time, by the clock in use
    recorded_at: Mapped[datetime]
    details: Mapped[dict[str, Any]]
    published_at: Mapped[datetime | None]  # NULL until relayed to the `alerts` topic (outbox)

    __table_args__ = (
        Index("ix_alert_transitions_alert_id", "alert_id"),
        Index(
            "ix_alert_transitions_unpublished",
            "seq",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


class AlertProgressRow(Base):
    """The last day the alerts service evaluated, per (province, rule), under a clock.

    Written in the same transaction as the transitions it produced, so a restart resumes where
    the last committed evaluation stopped. `rule_hash` fingerprints the rule's definition: a
    changed rule is re-evaluated from the start. `data_digest` (event time) holds per-block
    hashes of the province's daily totals up to `evaluated_through` as the evaluation read them,
    so a change no notice reported is found and re-evaluated (`services.alerts.digest`); NULL is
    unknown: the next check re-evaluates from the first day.
    """

    __tablename__ = "alert_progress"

    province: Mapped[str] = mapped_column(String(8), primary_key=True)
    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    clock: Mapped[str] = mapped_column(String(16))
    rule_hash: Mapped[str] = mapped_column(String(64))
    evaluated_through: Mapped[date] = mapped_column(Date)
    data_digest: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime]
