"""The refresher's pace: a poll a tenth of a second, pauses that follow the recomputations' cost,
and the look back coalesced while changes keep coming, brought up to date once they stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.refresher import POLL_S, Refresher
from services.core.db import make_sessionmaker
from services.core.gazetteer import load_gazetteer
from services.core.settings import Clock
from tests.api.rows import Rows, today

GAZ = load_gazetteer()


def refresher(engine: AsyncEngine, **options: float) -> Refresher:
    return Refresher(make_sessionmaker(engine), GAZ, Clock.live, **options)


def national_this_month(r: Refresher) -> int:
    assert r.history is not None
    return r.history.national.counts[-1]


def test_the_token_is_polled_every_tenth_of_a_second() -> None:
    assert POLL_S == 0.1


def test_pauses_follow_the_moving_average_of_recomputations_never_below_the_poll() -> None:
    r = Refresher(None, GAZ, Clock.live, interval_s=0.1)  # type: ignore[arg-type]
    assert r.pause_after(0.005) == 0.1  # cheap: a poll behind
    first_slow = r.pause_after(0.8)
    assert 0.1 < first_slow < 0.8  # one slow query does not stall the next change for as long
    for _ in range(40):
        sustained = r.pause_after(0.4)
    assert sustained == pytest.approx(0.4, rel=0.01)  # at most half the time recomputing
    for _ in range(40):
        cheap_again = r.pause_after(0.01)
    assert cheap_again == 0.1


async def test_the_look_back_may_wait_but_the_picture_may_not(
    engine: AsyncEngine, rows: Rows
) -> None:
    r = refresher(engine)
    await r.refresh()
    assert national_this_month(r) == 0
    etag = r.etag

    await rows.counts("PK-BA", today(), 3)
    assert await r.refresh(history=False) is True
    assert r.picture is not None and r.picture.national.incidents_7d == 3
    assert national_this_month(r) == 0 and r.history_token != r.token
    assert r.etag != etag
    etag = r.etag

    changed = r.changed()
    assert await r.refresh(history=False) is False  # nothing new for the picture
    assert await r.refresh() is True  # the look back catches up, and waiters hear of it
    assert national_this_month(r) == 3 and r.history_token == r.token
    assert changed.is_set() and r.etag != etag
    assert await r.refresh() is False


@contextlib.asynccontextmanager
async def running(r: Refresher) -> AsyncIterator[None]:
    task = asyncio.create_task(r.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


async def test_run_coalesces_the_look_back_then_brings_it_up_to_date(
    engine: AsyncEngine, rows: Rows
) -> None:
    r = refresher(engine, interval_s=0.02, history_every_s=3600)
    await r.refresh()
    async with running(r):
        await rows.counts("PK-KP", today(), 2)
        await until(lambda: r.picture is not None and r.picture.national.incidents_7d == 2)
        await asyncio.sleep(0.1)  # polls go by: the look back is not due for an hour
        assert national_this_month(r) == 0
        r.history_every_s = 0.05  # due: the next poll takes it, though the token is still
        await until(lambda: national_this_month(r) == 2)
        assert r.history_token == r.token


async def wakes(r: Refresher, change: Callable[[], Awaitable[None]]) -> float:
    """How long after `change` the refresher's waiters (the event streams) were woken."""
    changed = r.changed()
    loop = asyncio.get_running_loop()
    await change()
    started = loop.time()
    await asyncio.wait_for(changed.wait(), 10)
    return loop.time() - started


async def test_waiters_are_woken_within_a_poll_or_so_of_a_change(
    engine: AsyncEngine, rows: Rows
) -> None:
    r = refresher(engine)
    await r.refresh()
    async with running(r):
        waited = await wakes(r, lambda: rows.alert("PK-SD", state="firing"))
    assert waited < 2.0  # a poll (0.1 s) and a recomputation, with room for a loaded machine
    assert r.picture is not None and r.picture.national.active_alerts == 1
