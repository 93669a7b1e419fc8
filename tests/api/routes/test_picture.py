"""GET /v1/picture: counts, clocks, ETag/304, and one computation per change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta

from tests.api.conftest import Api, serving
from tests.api.rows import Rows, today


async def test_the_picture_counts_today_back_and_names_every_province(api: Api, rows: Rows) -> None:
    day = today()
    await rows.counts("PK-BA", day, 3, killed=5, injured=7)
    await rows.counts("PK-BA", day - timedelta(days=10), 2)
    await rows.counts("PK-KP", day - timedelta(days=1), 1, subregion="PK-TA")
    await rows.alert("PK-BA", state="firing", severity="warning")
    await api.refresh()
    body = (await api.client.get("/v1/picture")).json()
    assert body["as_of_day"] == day.isoformat() and body["clock"] == "live"
    provinces = {p["code"]: p for p in body["provinces"]}
    assert set(provinces) == {"PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD"}
    ba = provinces["PK-BA"]
    assert (ba["incidents_7d"], ba["killed_7d"], ba["injured_7d"]) == (3, 5, 7)
    assert ba["incidents_28d"] == 5
    assert ba["status"] == "surge"
    assert ba["alerts"][0]["summary"].startswith("12 incidents in 7d vs 4.5 expected")
    assert provinces["PK-KP"]["subregions"][0]["incidents_7d"] == 1
    assert body["national"]["incidents_7d"] == 4 and body["national"]["active_alerts"] == 1
    for field in ("expected_incidents_7d", "change_pct", "trend", "band"):
        assert field in ba


async def test_event_time_shows_the_newest_event_day(
    make_api: Callable[..., AbstractAsyncContextManager[Api]], rows: Rows
) -> None:
    await rows.counts("PK-SD", date(2024, 12, 30), 4)
    await rows.counts("PK-SD", date(2022, 1, 3), 1)
    async with make_api(clock="event_time") as api:
        body = (await api.client.get("/v1/picture")).json()
    assert body["as_of_day"] == "2024-12-30" and body["clock"] == "event_time"
    assert body["as_of"] == "2024-12-30T19:00:00Z"  # midnight in Karachi
    sindh = next(p for p in body["provinces"] if p["code"] == "PK-SD")
    assert sindh["incidents_7d"] == 4 and sindh["expected_incidents_7d"] is not None


async def test_etag_304_and_one_computation_per_change(database_url: str, rows: Rows) -> None:
    # Refreshes are made by hand here: the background refresher sleeps.
    async with serving(database_url, app_options={"refresh_interval_s": 3600}) as api:
        await _one_computation_per_change(api, rows)


async def _one_computation_per_change(api: Api, rows: Rows) -> None:
    first = await api.client.get("/v1/picture")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = await api.client.get("/v1/picture", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""

    refresher = api.context.refresher
    computed = refresher.recomputed
    assert await refresher.refresh() is False  # nothing changed: nothing computed
    assert refresher.recomputed == computed

    await rows.counts("PK-PB", today(), 2)
    assert await refresher.refresh() is True
    changed = await api.client.get("/v1/picture", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_the_background_refresher_notices_changes(api: Api, rows: Rows) -> None:
    before = api.context.refresher.etag
    await rows.counts("PK-GB", today(), 1)
    for _ in range(50):
        if api.context.refresher.etag != before:
            break
        await asyncio.sleep(0.1)
    body = (await api.client.get("/v1/picture")).json()
    assert next(p for p in body["provinces"] if p["code"] == "PK-GB")["incidents_7d"] == 1
