"""GET /v1/incidents (filters, keyset pages) and GET /v1/incidents/{source}/{id}."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api
from tests.api.rows import Rows

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


async def test_filters(api: Api, rows: Rows) -> None:
    await rows.incident("a", T0, province="PK-BA", category="bombing", target="civilians")
    await rows.incident("b", T0 + timedelta(days=1), province="PK-KP", subregion="PK-TA")
    await rows.incident("c", T0 + timedelta(days=2), province="PK-KP")
    await rows.incident("d", T0 + timedelta(days=3), province="PK-SD", retracted=True)

    async def ids(query: str = "") -> list[str]:
        response = await api.client.get(f"/v1/incidents?{query}")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == ["c", "b", "a"]  # newest first, retracted left out
    assert await ids("include_retracted=true") == ["d", "c", "b", "a"]
    assert await ids("province=kpk") == ["c", "b"]
    assert await ids("province=FATA") == ["b"]
    assert await ids("category=bombing") == ["a"]
    assert await ids("target=civilians") == ["a"]
    assert await ids("since=2024-05-02&until=2024-05-03") == ["c", "b"]
    assert await ids("since=2024-05-02T08:00:00Z&until=2024-05-02T08:00:00Z") == ["b"]
    assert await ids("until=2024-05-01T07:59:59Z") == []
    assert await ids("since=0001-01-01&until=9999-12-31") == ["c", "b", "a"]
    assert await ids("until=9999-12-31T23:59:59.999999Z") == ["c", "b", "a"]
    first = (await api.client.get("/v1/incidents?limit=1")).json()["items"][0]
    assert first["occurred_at"] == "2024-05-03T08:00:00Z" and first["retracted"] is False
    for field in ("source", "version", "province", "district", "category", "perpetrator"):
        assert field in first


async def test_bad_filters_are_problems_not_crashes(api: Api) -> None:
    for query, status in [
        ("province=Atlantis", 422),
        ("category=riot", 422),
        ("target=aliens", 422),
        ("since=2024-02-30", 422),
        ("since=2024-05-02&until=2024-05-01", 422),
        ("since=2024-05-02T00:00:00%2B99:00", 422),
        ("limit=0", 422),
        ("limit=501", 422),
        ("cursor=not-a-cursor", 400),
        ("cursor=WzEsMiwzXQ", 400),
    ]:
        response = await api.client.get(f"/v1/incidents?{query}")
        assert response.status_code == status, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_pages_while_inserting_lose_and_repeat_nothing(api: Api, rows: Rows) -> None:
    for n in range(12):  # two share an instant: the keyset breaks the tie on (source, id)
        await rows.incident(f"i{n:02d}", T0 + timedelta(hours=n // 2 * 2 + (n % 2) * (n > 3)))
    before = {f"i{n:02d}" for n in range(12)}
    seen: list[str] = []
    cursor: str | None = None
    inserted = 0
    while True:
        query = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(f"/v1/incidents?{query}")).json()
        seen += [item["id"] for item in page["items"]]
        # Someone publishes between pages: newer, older and same-instant incidents.
        await rows.incident(f"new-late-{inserted}", T0 + timedelta(days=30))
        await rows.incident(f"new-old-{inserted}", T0 - timedelta(days=30))
        inserted += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))  # nothing twice
    assert before <= set(seen)  # nothing that existed is skipped
    assert not any(i.startswith("new-late") for i in seen)  # newer ones are behind us


async def test_one_incident_with_versions_and_retraction(api: Api, rows: Rows) -> None:
    await rows.incident("x/1", T0, source="urn:desk/ctd/quetta", versions=3, retracted=True)
    await rows.incident("y", T0, source="plain")
    response = await api.client.get("/v1/incidents/urn:desk/ctd/quetta/x/1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["id"], body["version"]) == ("urn:desk/ctd/quetta", "x/1", 3)
    assert [v["version"] for v in body["versions"]] == [1, 2, 3]
    assert body["retracted"] is True and body["retraction"]["reason"] == "duplicate report"
    plain = (await api.client.get("/v1/incidents/plain/y")).json()
    assert plain["retraction"] is None and plain["retracted"] is False
    encoded = await api.client.get("/v1/incidents/urn:desk%2Fctd%2Fquetta/x%2F1")
    assert encoded.status_code == 200 and encoded.json()["id"] == "x/1"
    missing = await api.client.get("/v1/incidents/plain/nope")
    assert missing.status_code == 404 and missing.json()["type"].endswith("unknown-incident")
