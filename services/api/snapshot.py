"""The database reads behind the picture: a cheap change token, and the picture's inputs.

The token moves whenever anything the picture (or an alert listing) shows may have changed:
ingest advances its stored offsets in the transaction that changes counts, the alerts worker
adds a transition or touches an alert, an operator acknowledges one, and, on the live clock,
the day rolls over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.picture import SPANS, DayCount, compute_picture
from services.api.schemas import AlertOut, Picture, utc
from services.core.gazetteer import Gazetteer
from services.core.models import (
    OPEN_STATES,
    AlertRow,
    AlertTransitionRow,
    ConsumerOffsetRow,
    DailyCountRow,
)
from services.core.settings import Clock


@dataclass(frozen=True, slots=True)
class ChangeToken:
    offsets: int
    max_seq: int
    alerts: int
    alerts_updated: str
    acks: int
    live_day: date | None  # today on the live clock; None on the event-time clock

    def __str__(self) -> str:
        return (
            f"{self.offsets}.{self.max_seq}.{self.alerts}.{self.alerts_updated}.{self.acks}."
            f"{self.live_day}"
        )


async def read_token(session: AsyncSession, live_day: date | None) -> ChangeToken:
    """One round trip of five aggregates over small tables or their primary keys.

    The alert count catches an episode the alerts service withdrew (deleted) on a correction.
    """
    row = (
        await session.execute(
            select(
                select(func.coalesce(func.sum(ConsumerOffsetRow.next_offset), 0))
                .scalar_subquery()
                .label("offsets"),
                select(func.coalesce(func.max(AlertTransitionRow.seq), 0))
                .scalar_subquery()
                .label("max_seq"),
                select(func.count()).select_from(AlertRow).scalar_subquery().label("alerts"),
                select(func.max(AlertRow.updated_at)).scalar_subquery().label("updated"),
                select(func.count())
                .select_from(AlertRow)
                .where(AlertRow.acknowledged_at.is_not(None))
                .scalar_subquery()
                .label("acks"),
            )
        )
    ).one()
    updated = utc(row.updated).isoformat() if row.updated is not None else ""
    return ChangeToken(
        int(row.offsets), int(row.max_seq), int(row.alerts), updated, int(row.acks), live_day
    )


def live_day(gazetteer: Gazetteer, now: datetime) -> date:
    return now.astimezone(gazetteer.timezone).date()


async def newest_event_day(session: AsyncSession) -> date | None:
    stmt = select(func.max(DailyCountRow.day)).where(DailyCountRow.incidents > 0)
    return (await session.execute(stmt)).scalar_one_or_none()


async def first_event_day(session: AsyncSession) -> date | None:
    stmt = select(func.min(DailyCountRow.day)).where(DailyCountRow.incidents > 0)
    return (await session.execute(stmt)).scalar_one_or_none()


def close_of(day: date, gazetteer: Gazetteer) -> datetime:
    """The instant a day ends in the gazetteer's zone, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), gazetteer.timezone).astimezone(UTC)


async def as_of(
    session: AsyncSession, gazetteer: Gazetteer, clock: Clock, now: datetime
) -> tuple[datetime, date]:
    """Live: now and today. Event time: the newest event day (today if there is none yet)."""
    if clock is Clock.live:
        return now.astimezone(UTC), live_day(gazetteer, now)
    day = await newest_event_day(session) or live_day(gazetteer, now)
    return close_of(day, gazetteer), day


async def span_totals(session: AsyncSession, as_of_day: date) -> list[DayCount]:
    """Counts per province, subregion and `SPANS` span up to `as_of_day`, each dated by the
    span's newest day: what the picture's windows sum, in a few dozen rows instead of a year's
    days (the database sums them; on 200k incidents that took ~15 ms of Python per picture)."""
    c = DailyCountRow
    spans = [
        (as_of_day - timedelta(days=oldest), as_of_day - timedelta(days=newest))
        for newest, oldest in SPANS
    ]
    span_end = case(
        *((c.day >= first, literal(last, Date)) for first, last in spans[:-1]),
        else_=literal(spans[-1][1], Date),
    )
    days = (
        select(c.province, c.subregion, span_end.label("day"), c.incidents, c.killed, c.injured)
        .where(c.day >= spans[-1][0], c.day <= as_of_day)
        .subquery()
    )
    stmt = select(
        days.c.province,
        days.c.subregion,
        days.c.day,
        func.sum(days.c.incidents),
        func.sum(days.c.killed),
        func.sum(days.c.injured),
    ).group_by(days.c.province, days.c.subregion, days.c.day)
    return [
        DayCount(p, s or "", d, int(i or 0), int(k or 0), int(j or 0))
        for p, s, d, i, k, j in (await session.execute(stmt)).all()
    ]


async def open_alerts(session: AsyncSession) -> list[AlertOut]:
    rows = await session.scalars(
        select(AlertRow).where(AlertRow.state.in_(OPEN_STATES)).order_by(AlertRow.id)
    )
    return [AlertOut.from_row(r) for r in rows]


async def load_picture(
    session: AsyncSession, gazetteer: Gazetteer, clock: Clock, now: datetime
) -> Picture:
    """Read the inputs and compute the picture (see `services.api.picture`)."""
    at, day = await as_of(session, gazetteer, clock, now)
    counts = await span_totals(session, day)
    return compute_picture(
        gazetteer,
        as_of=at,
        as_of_day=day,
        clock=clock.value,
        history_start=await first_event_day(session),
        counts=counts,
        alerts=await open_alerts(session),
    )
