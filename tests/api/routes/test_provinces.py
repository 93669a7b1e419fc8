"""GET /v1/provinces, /v1/provinces/{code}, /v1/provinces/{code}/series."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import event

from tests.api.conftest import Api, serving
from tests.api.rows import Rows, today


async def test_list_and_every_alias_resolves(api: Api, rows: Rows) -> None:
    await rows.counts("PK-KP", today(), 2, subregion="PK-TA")
    await api.refresh()
    listing = (await api.client.get("/v1/provinces")).json()
    assert [p["code"] for p in listing["items"]][:2] == ["PK-BA", "PK-GB"]
    for alias in ("PK-KP", "pk-kp", "KPK", "NWFP", "Khyber-Pakhtunkhwa", "FATA", "pk-ta"):
        response = await api.client.get(f"/v1/provinces/{alias}")
        assert response.status_code == 200, alias
        assert response.json()["code"] == "PK-KP" and response.json()["incidents_7d"] == 2


async def test_unknown_province_is_a_404_problem(api: Api) -> None:
    response = await api.client.get("/v1/provinces/Narnia")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("unknown-province")
    series = await api.client.get("/v1/provinces/Narnia/series")
    assert series.status_code == 404


async def test_province_etags(api: Api, rows: Rows) -> None:
    for path in ("/v1/provinces", "/v1/provinces/PK-SD"):
        first = await api.client.get(path)
        etag = first.headers["etag"]
        assert (await api.client.get(path, headers={"If-None-Match": etag})).status_code == 304
    await rows.counts("PK-SD", today(), 1)
    await api.refresh()
    fresh = await api.client.get("/v1/provinces/PK-SD", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["incidents_7d"] == 1


async def test_series_by_day_week_month_year(api: Api, rows: Rows) -> None:
    await rows.counts("PK-BA", date(2024, 3, 4), 2, killed=3, injured=4)
    await rows.counts("PK-BA", date(2024, 3, 6), 1, killed=1, category="bombing")
    await rows.counts("PK-BA", date(2024, 4, 1), 5)
    base = "/v1/provinces/Balochistan/series"
    day = (await api.client.get(f"{base}?since=2024-03-03&until=2024-03-06")).json()
    assert day["province"] == "PK-BA" and day["metric"] == "incidents"
    assert [(p["start"], p["value"]) for p in day["points"]] == [
        ("2024-03-03", 0), ("2024-03-04", 2), ("2024-03-05", 0), ("2024-03-06", 1),
    ]  # fmt: skip
    week = (await api.client.get(f"{base}?interval=week&since=2024-03-01&until=2024-03-10")).json()
    assert [(p["start"], p["value"]) for p in week["points"]] == [
        ("2024-02-26", 0), ("2024-03-04", 3),
    ]  # fmt: skip
    params = "interval=month&metric=casualties&since=2024-03-15&until=2024-04-30"
    month = (await api.client.get(f"{base}?{params}")).json()
    assert [(p["start"], p["value"]) for p in month["points"]] == [
        ("2024-03-01", 8), ("2024-04-01", 0),
    ]  # fmt: skip
    assert month["since"] == "2024-03-01"
    year = (await api.client.get(f"{base}?interval=year&since=2024-01-01&until=2024-12-31")).json()
    assert year["points"] == [{"start": "2024-01-01", "value": 8}]


async def test_series_of_a_subregion_and_defaults(api: Api, rows: Rows) -> None:
    await rows.counts("PK-KP", today(), 2, subregion="PK-TA")
    await rows.counts("PK-KP", today(), 5)
    fata = (await api.client.get("/v1/provinces/FATA/series")).json()
    assert fata["province"] == "PK-KP" and fata["subregion"] == "PK-TA"
    assert fata["until"] == today().isoformat() and len(fata["points"]) == 90
    assert fata["points"][-1]["value"] == 2
    kp = (await api.client.get("/v1/provinces/KP/series")).json()
    assert kp["subregion"] is None and kp["points"][-1]["value"] == 7


BAD_SERIES_QUERIES = (
    "metric=deaths",
    "interval=fortnight",
    "since=2024-13-01",
    "since=yesterday",
    "since=2024-03-02&until=2024-03-01",
    "since=0001-01-01&until=9999-12-31",
    "until=2024-01-01T10:30:00Z",
)


async def test_series_bad_parameters_are_422_problems(api: Api) -> None:
    for query in BAD_SERIES_QUERIES:
        response = await api.client.get(f"/v1/provinces/PK-BA/series?{query}")
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 422 and response.json()["detail"]


async def test_series_304_does_not_rebuild_the_body(database_url: str, rows: Rows) -> None:
    # The background refresher would add its own statements to the count: keep it asleep.
    async with serving(database_url, app_options={"refresh_interval_s": 3600}) as api:
        await _series_304(api, rows)


async def _series_304(api: Api, rows: Rows) -> None:
    await rows.counts("PK-BA", today() - timedelta(days=1), 4)
    path = "/v1/provinces/PK-BA/series?interval=week"
    first = await api.client.get(path)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        statements.append(sql)

    engine = api.context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        again = await api.client.get(path, headers={"If-None-Match": first.headers["etag"]})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert again.status_code == 304
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "daily_counts" not in selects[0]  # the change token only
    await rows.counts("PK-BA", today(), 1)
    changed = await api.client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.json()["points"][-1]["value"] >= 1
