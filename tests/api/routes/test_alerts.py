"""GET /v1/alerts, /v1/alerts/{id}, POST /v1/alerts/{id}/ack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import httpx

from services.api.app import create_app
from services.core.settings import load_settings
from tests.api.conftest import Api, listening, status_line
from tests.api.rows import Rows

OPERATOR = {"x-api-key": "op-1"}


async def test_listing_by_state_province_and_since(api: Api, rows: Rows) -> None:
    firing = await rows.alert("PK-BA", state="firing")
    pending = await rows.alert("PK-SD", state="pending", rule="ears_c2")
    old = datetime(2024, 1, 1, tzinfo=UTC)
    resolved = await rows.alert(
        "PK-BA", state="resolved", rule="old", started=old, resolved=old + timedelta(days=9)
    )

    async def ids(query: str = "") -> list[int]:
        response = await api.client.get(f"/v1/alerts?{query}")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [pending, firing]  # open ones, newest first
    assert await ids("state=all") == [resolved, pending, firing]
    assert await ids("state=resolved") == [resolved]
    assert await ids("state=firing") == [firing]
    assert await ids("state=all&province=Baluchistan") == [resolved, firing]
    assert await ids("state=all&since=2024-06-01") == [pending, firing]
    item = (await api.client.get("/v1/alerts?state=firing")).json()["items"][0]
    for field in ("rule", "method", "metric", "province", "state", "severity", "started_at",
                  "fired_at", "resolved_at", "observed", "expected", "threshold", "score",
                  "window"):  # fmt: skip
        assert field in item
    for query in ("state=burning", "province=Atlantis", "since=soon", "cursor=%25%25"):
        response = await api.client.get(f"/v1/alerts?{query}")
        assert response.status_code in (400, 422), query
        assert response.headers["content-type"] == "application/problem+json"


async def test_pages_and_etag(api: Api, rows: Rows) -> None:
    made = [await rows.alert("PK-BA", rule=f"r{n}", state="pending") for n in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(f"/v1/alerts?{query}")).json()
        seen += [item["id"] for item in page["items"]]
        await rows.alert("PK-KP", rule=f"new{len(seen)}", state="pending")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)

    first = await api.client.get("/v1/alerts")
    etag = first.headers["etag"]
    assert (await api.client.get("/v1/alerts", headers={"If-None-Match": etag})).status_code == 304
    other = await api.client.get("/v1/alerts?state=all", headers={"If-None-Match": etag})
    assert other.status_code == 200  # another query is another resource
    await rows.transition(made[0], "pending", "firing")
    moved = await api.client.get("/v1/alerts", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag


async def test_one_alert_with_its_transitions(api: Api, rows: Rows) -> None:
    alert_id = await rows.alert("PK-KP", state="firing")
    body = (await api.client.get(f"/v1/alerts/{alert_id}")).json()
    assert [(t["from_state"], t["to_state"]) for t in body["transitions"]] == [
        (None, "pending"),
        ("pending", "firing"),
    ]
    assert body["explanation"]["baseline_weeks"] == 4 and "expected" in body["summary"]
    for path in ("999999", "0", "abc", "99999999999999999999"):
        response = await api.client.get(f"/v1/alerts/{path}")
        assert response.status_code in (404, 422), path
        assert response.headers["content-type"] == "application/problem+json"


async def test_acknowledge(
    make_api: Callable[..., AbstractAsyncContextManager[Api]], rows: Rows
) -> None:
    firing = await rows.alert("PK-BA", state="firing")
    resolved = await rows.alert("PK-SD", state="resolved", rule="gone")
    async with make_api(operator_keys="op-1", publisher_keys="pub-1") as api:
        post = api.client.post
        assert (await post(f"/v1/alerts/{firing}/ack")).status_code == 401
        wrong = await post(f"/v1/alerts/{firing}/ack", headers={"x-api-key": "pub-1"})
        assert wrong.status_code == 403

        who = {"by": "duty officer"}
        acked = await post(f"/v1/alerts/{firing}/ack", json=who, headers=OPERATOR)
        assert acked.status_code == 200, acked.text
        body = acked.json()
        assert body["acknowledged_by"] == "duty officer" and body["acknowledged_at"]
        assert body["state"] == "firing"
        assert [t["to_state"] for t in body["transitions"]][-1] == "acknowledged"
        assert body["transitions"][-1]["from_state"] == "firing"

        again = await post(f"/v1/alerts/{firing}/ack", headers=OPERATOR)
        assert again.status_code == 200
        assert again.json()["acknowledged_by"] == "duty officer"  # unchanged: idempotent
        assert [t["to_state"] for t in again.json()["transitions"]].count("acknowledged") == 1

        over = await post(f"/v1/alerts/{resolved}/ack", headers=OPERATOR)
        assert over.status_code == 409 and over.json()["type"].endswith("alert-resolved")
        assert (await post("/v1/alerts/424242/ack", headers=OPERATOR)).status_code == 404
        long_name = {"by": "x" * 500}
        invalid = await post(f"/v1/alerts/{firing}/ack", json=long_name, headers=OPERATOR)
        assert invalid.status_code == 422 and invalid.json()["errors"]

        await api.refresh()
        picture = (await api.client.get("/v1/picture")).json()
        ba = next(p for p in picture["provinces"] if p["code"] == "PK-BA")
        assert ba["alerts"][0]["acknowledged_by"] == "duty officer"


async def test_ack_checks_the_key_before_it_reads_a_body(database_url: str, rows: Rows) -> None:
    """Over a real server: a client without a key is refused while its body is still coming,
    and an oversized body is refused at once (announced) or as soon as it passes 64 KiB."""
    alert_id = await rows.alert("PK-BA", state="firing")
    app = create_app(load_settings(database_url=database_url, operator_keys="op-1"))
    head = f"POST /v1/alerts/{alert_id}/ack HTTP/1.1\r\nHost: api\r\n"
    head += "Content-Type: application/json\r\n"
    async with listening(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        endless = (head + 'Transfer-Encoding: chunked\r\n\r\n8\r\n{"by": "\r\n').encode()
        assert await status_line(base, endless) == 401, "answered before the body ended"
        announced = head + f"Content-Length: {48 << 20}\r\n"
        assert await status_line(base, f'{announced}\r\n{{"by"'.encode()) == 401
        assert await status_line(base, f"{announced}X-API-Key: op-1\r\n\r\n{{".encode()) == 413

        async def padded() -> AsyncIterator[bytes]:  # valid JSON, 80 KiB, no Content-Length
            yield b'{"by": "duty officer", "note": "'
            for _ in range(80):
                yield b" " * 1024
            yield b'"}'

        streamed = await client.post(
            f"/v1/alerts/{alert_id}/ack", content=padded(), headers=OPERATOR
        )
        assert streamed.status_code == 413 and streamed.json()["reason"] == "too_large"
        assert (await client.get(f"/v1/alerts/{alert_id}")).json()["acknowledged_at"] is None
        fine = await client.post(f"/v1/alerts/{alert_id}/ack", json={"by": "b"}, headers=OPERATOR)
        assert fine.status_code == 200 and fine.json()["acknowledged_by"] == "b"
