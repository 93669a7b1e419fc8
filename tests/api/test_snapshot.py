"""The picture's reads: the database's per-span sums give the picture the per-day rows give."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.picture import LOOKBACK_DAYS, SPANS, DayCount, compute_picture
from services.api.snapshot import first_event_day, load_picture, open_alerts, span_totals
from services.core.db import make_sessionmaker
from services.core.gazetteer import load_gazetteer
from services.core.models import DailyCountRow
from services.core.settings import Clock

GAZ = load_gazetteer()
AS_OF = date(2024, 6, 30)
NOW = datetime(2024, 6, 30, 12, tzinfo=UTC)  # noon in Karachi: live day 2024-06-30


def test_the_spans_cover_the_lookback_without_gaps_or_overlaps() -> None:
    assert SPANS[0][0] == 0 and SPANS[-1][1] == LOOKBACK_DAYS
    for (_, oldest), (newest, _) in itertools.pairwise(SPANS):
        assert newest == oldest + 1


async def per_day(engine: AsyncEngine, start: date, end: date) -> list[DayCount]:
    """The picture's input as it used to be read: one row per province, subregion and day."""
    c = DailyCountRow
    stmt = (
        select(
            c.province,
            c.subregion,
            c.day,
            func.sum(c.incidents),
            func.sum(c.killed),
            func.sum(c.injured),
        )
        .where(c.day >= start, c.day <= end)
        .group_by(c.province, c.subregion, c.day)
    )
    async with make_sessionmaker(engine)() as session:
        return [DayCount(p, s, d, i, k, j) for p, s, d, i, k, j in await session.execute(stmt)]


@pytest.mark.parametrize("history_days", [3, 20, 60, 500])
async def test_span_sums_give_the_picture_of_per_day_rows(
    engine: AsyncEngine, history_days: int
) -> None:
    """Histories that start inside each span, so the clipped baseline is covered too; rows past
    `as_of_day` and before the lookback, which no window may count."""
    rng = random.Random(history_days)
    first = AS_OF - timedelta(days=history_days - 1)
    rows = {}
    for _ in range(400):
        day = first + timedelta(days=rng.randrange(history_days + 3))  # a few in the "future"
        province, subregion = rng.choice([("PK-BA", ""), ("PK-KP", ""), ("PK-KP", "PK-TA")])
        category = rng.choice(["bombing", "armed_assault", "clash"])
        rows[province, day, subregion, category] = (
            rng.randrange(0, 4),
            rng.randrange(0, 9),
            rng.randrange(0, 9),
        )
    rows["PK-SD", first, "", "other"] = (1, 0, 0)  # history starts on `first`
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add_all(
            DailyCountRow(
                province=p, day=d, subregion=s, category=c, incidents=i, killed=k, injured=j
            )
            for (p, d, s, c), (i, k, j) in rows.items()
        )
    async with make_sessionmaker(engine)() as session:
        picture = await load_picture(session, GAZ, Clock.live, NOW)
        spans = await span_totals(session, AS_OF)
        history_start = await first_event_day(session)
        alerts = await open_alerts(session)
    days = await per_day(engine, AS_OF - timedelta(days=LOOKBACK_DAYS), AS_OF)
    assert history_start == first and len(spans) < len(days)
    expected = compute_picture(
        GAZ,
        as_of=NOW,
        as_of_day=AS_OF,
        clock="live",
        history_start=history_start,
        counts=days,
        alerts=alerts,
    )
    assert picture == expected
