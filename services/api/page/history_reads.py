"""The database reads behind the page's look back (`services.api.page.history`).

Three round trips, all over aggregates or the few alerts that fired: incidents per province and
calendar month, the fired alerts that touch the months shown, the newest fired alerts and two
counts. The refresher runs them once per change, with the picture.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import case, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.page.history import LATEST, History, MonthCount, compute_history, month_starts
from services.api.schemas import AlertOut, Picture
from services.core.gazetteer import Gazetteer
from services.core.models import AlertRow, DailyCountRow


async def monthly_incidents(session: AsyncSession, picture: Picture) -> list[MonthCount]:
    c = DailyCountRow
    year, month = extract("year", c.day), extract("month", c.day)
    start = month_starts(picture.as_of_day)[0]
    stmt = (
        select(c.province, year, month, func.sum(c.incidents))
        .where(c.day >= start, c.day <= picture.as_of_day)
        .group_by(c.province, year, month)
    )
    return [
        MonthCount(p, int(y), int(m), int(n or 0))
        for p, y, m, n in (await session.execute(stmt)).all()
    ]


async def fired_since(session: AsyncSession, since: datetime) -> list[AlertOut]:
    """Alerts that fired and were still firing at or after `since`."""
    a = AlertRow
    stmt = (
        select(a)
        .where(a.fired_at.is_not(None), or_(a.resolved_at.is_(None), a.resolved_at >= since))
        .order_by(a.id)
    )
    return [AlertOut.from_row(r) for r in await session.scalars(stmt)]


async def latest_fired(session: AsyncSession, limit: int = LATEST) -> list[AlertOut]:
    a = AlertRow
    stmt = (
        select(a)
        .where(a.fired_at.is_not(None))
        .order_by(a.fired_at.desc(), a.id.desc())
        .limit(limit)
    )
    return [AlertOut.from_row(r) for r in await session.scalars(stmt)]


async def alert_tallies(session: AsyncSession) -> tuple[int, int]:
    """(alerts that ever fired, alerts that resolved without firing)."""
    a = AlertRow
    unfired = case((a.fired_at.is_(None) & (a.state == "resolved"), 1), else_=0)
    row = (
        await session.execute(select(func.count(a.fired_at), func.coalesce(func.sum(unfired), 0)))
    ).one()
    return int(row[0]), int(row[1])


async def load_history(session: AsyncSession, gazetteer: Gazetteer, picture: Picture) -> History:
    """Read the inputs and compute the look back that goes with `picture`."""
    first = month_starts(picture.as_of_day)[0]
    # A day's margin for the clocks' ways of stamping days; `compute_history` clips to the months.
    since = datetime.combine(first - timedelta(days=1), time(), gazetteer.timezone)
    fired_total, cleared = await alert_tallies(session)
    return compute_history(
        gazetteer,
        as_of_day=picture.as_of_day,
        clock=picture.clock,
        monthly=await monthly_incidents(session, picture),
        fired=await fired_since(session, since.astimezone(UTC)),
        latest_fired=await latest_fired(session),
        fired_total=fired_total,
        cleared_unfired=cleared,
    )
