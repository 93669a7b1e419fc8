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


# The picture checks its key by hand (`checked_read`), every other read through `ReadAccess`:
# both must answer every way of presenting a key alike.
KEY_CASES: list[tuple[dict[str, str], int]] = [
    ({}, 401),
    ({"Authorization": "Bearer r1"}, 200),
    ({"Authorization": "bearer   r1 "}, 200),
    ({"Authorization": "Bearer r2"}, 403),
    ({"Authorization": "Basic r1"}, 401),
    ({"Authorization": "Bearer"}, 401),
    ({"Authorization": "r1"}, 401),
    ({"X-API-Key": "r1"}, 200),
    ({"X-API-Key": " r1 "}, 200),
    ({"X-API-Key": "nope"}, 403),
    ({"X-API-Key": "", "Authorization": "Bearer r1"}, 200),
    ({"X-API-Key": "nope", "Authorization": "Bearer r1"}, 403),
    ({"X-API-Key": "r1", "Authorization": "Bearer nope"}, 200),
    ({"X-API-Key": "o1"}, 200),
    ({"Authorization": "Bearer p1"}, 200),
]


async def test_the_picture_checks_keys_exactly_as_every_other_read(
    make_api: Callable[..., AbstractAsyncContextManager[Api]],
) -> None:
    async with make_api(api_keys="r1", operator_keys="o1", publisher_keys="p1") as api:
        for headers, expected in KEY_CASES:
            picture = await api.client.get("/v1/picture", headers=headers)
            other = await api.client.get("/v1/provinces", headers=headers)
            assert (picture.status_code, other.status_code) == (expected, expected), headers
            if expected == 401:
                assert picture.headers["www-authenticate"] == other.headers["www-authenticate"]
            if expected >= 400:
                assert picture.headers["content-type"] == "application/problem+json"
                assert picture.json()["type"] == other.json()["type"]
                assert picture.json()["detail"] == other.json()["detail"]


async def test_reads_of_the_picture_are_open_without_read_keys(api: Api) -> None:
    assert (await api.client.get("/v1/picture")).status_code == 200
    assert (await api.client.get("/v1/picture", headers={"X-API-Key": "any"})).status_code == 200


async def test_weak_and_listed_etags_answer_304_with_the_caching_headers(api: Api) -> None:
    etag = (await api.client.get("/v1/picture")).headers["etag"]
    for header in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        response = await api.client.get("/v1/picture", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.headers["etag"] == etag and response.headers["cache-control"] == "no-cache"
    stale = await api.client.get("/v1/picture", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.headers["content-type"] == "application/json"
    assert stale.headers["etag"] == etag and stale.headers["cache-control"] == "no-cache"
    assert stale.content == api.context.refresher.body


async def test_picture_requests_are_counted_by_route_and_status(
    make_api: Callable[..., AbstractAsyncContextManager[Api]],
) -> None:
    async with make_api(api_keys="r1") as api:
        key = {"X-API-Key": "r1"}
        etag = (await api.client.get("/v1/picture", headers=key)).headers["etag"]
        await api.client.get("/v1/picture", headers={**key, "If-None-Match": etag})
        await api.client.get("/v1/picture", headers={**key, "If-None-Match": etag})
        await api.client.get("/v1/picture")
        registry = api.context.metrics.registry

    def count(status: str) -> float | None:
        labels = {"route": "/v1/picture", "method": "GET", "status": status}
        return registry.get_sample_value("surgewatch_http_requests_total", labels)

    assert (count("200"), count("304"), count("401")) == (1, 2, 1)
    timed = {"route": "/v1/picture", "method": "GET", "status": "304"}
    assert registry.get_sample_value("surgewatch_http_request_duration_seconds_count", timed) == 2


async def test_the_picture_documents_the_same_security_as_every_other_read(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    security = paths["/v1/picture"]["get"]["security"]
    assert security == paths["/v1/provinces"]["get"]["security"]
    assert security == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
