"""The app as a whole: problem+json for every error, keys on every read, /docs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from services.api import cursor
from tests.api.conftest import Api
from tests.api.rows import Rows

PROBLEM = "application/problem+json"
READS = (
    "/v1/picture",
    "/v1/provinces",
    "/v1/provinces/PK-BA",
    "/v1/provinces/PK-BA/series",
    "/v1/incidents",
    "/v1/incidents/a/b",
    "/v1/alerts",
    "/v1/alerts/1",
    "/v1/stream",
    "/",
)


async def test_http_errors_are_problems(api: Api) -> None:
    unknown = await api.client.get("/v2/everything")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    body = unknown.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["instance"] == "/v2/everything"
    wrong_method = await api.client.delete("/v1/picture")
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == PROBLEM
    assert "GET" in wrong_method.headers["allow"]
    invalid = await api.client.get("/v1/incidents?limit=lots")
    assert invalid.status_code == 422 and invalid.headers["content-type"] == PROBLEM
    assert invalid.json()["errors"][0]["loc"] == ["query", "limit"]


async def test_nul_characters_are_refused_not_crashed_on(
    make_api: Callable[..., AbstractAsyncContextManager[Api]], rows: Rows
) -> None:
    alert_id = await rows.alert("PK-BA")
    async with make_api(operator_keys="op") as api:
        get = api.client.get
        ack = await api.client.post(
            f"/v1/alerts/{alert_id}/ack", json={"by": "a\u0000b"}, headers={"x-api-key": "op"}
        )
        assert ack.status_code == 422
        assert (await get("/v1/incidents/a%00/b")).status_code == 422
        nul_cursor = cursor.encode("2024-01-01T00:00:00+00:00", "a\u0000", "b")
        assert (await get(f"/v1/incidents?cursor={nul_cursor}")).status_code == 400
        assert (await get("/v1/provinces/a%00b")).status_code == 404


async def test_a_read_key_closes_every_read(
    make_api: Callable[..., AbstractAsyncContextManager[Api]],
) -> None:
    async with make_api(api_keys="r1", operator_keys="o1", publisher_keys="p1") as api:
        for path in READS:
            missing = await api.client.get(path)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await api.client.get(path, headers={"Authorization": "Bearer r2"})
            assert wrong.status_code == 403, path
        for key in ("r1", "o1", "p1"):
            ok = await api.client.get("/v1/picture", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert (await api.client.get(open_path)).status_code == 200, open_path


async def test_openapi_declares_problems(api: Api) -> None:
    assert "swagger" in (await api.client.get("/docs")).text.lower()
    document = (await api.client.get("/openapi.json")).json()
    responses = document["paths"]["/v1/provinces/{code}"]["get"]["responses"]
    assert responses["404"]["content"] == {
        PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
    }
    assert "/v1/incidents/{source}/{id}" in document["paths"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(document["components"]["securitySchemes"])


# Malformed in every way a route looks at: path, query, header, body, content type.
MALFORMED: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    ("operator", "POST", "/v1/alerts/abc/ack", {}, None),
    ("operator", "POST", "/v1/alerts/1/ack", {"content-type": "application/json"}, b"{not json"),
    ("operator", "POST", "/v1/alerts/1/ack", {"content-type": "application/json"}, b'{"by": 5}'),
    ("operator", "GET", "/v1/rejections?limit=lots&reason=nope&cursor=%25", {}, None),
    ("publisher", "POST", "/v1/incidents", {"content-type": "text/plain"}, b"hello"),
    ("publisher", "POST", "/v1/incidents", {"content-type": "application/json"}, b"{not json"),
    ("read", "GET", "/v1/incidents?since=soon&limit=0", {}, None),
    ("read", "GET", "/v1/alerts?state=burning&province=Atlantis", {}, None),
    ("read", "GET", "/v1/alerts/abc", {}, None),
    ("read", "GET", "/v1/provinces/PK-BA/series?metric=mood&interval=fortnight", {}, None),
    ("read", "GET", "/v1/incidents/a%00/b", {}, None),
    ("read", "GET", "/v1/stream", {"last-event-id": "yesterday"}, None),
]


async def test_the_key_is_checked_before_anything_else_is_looked_at(
    make_api: Callable[..., AbstractAsyncContextManager[Api]],
) -> None:
    """A 4xx about a parameter would tell an unauthenticated client the route's shape."""
    keys = {"read": "r1", "operator": "o1", "publisher": "p1"}
    async with make_api(api_keys="r1", operator_keys="o1", publisher_keys="p1") as api:
        for access, method, path, headers, body in MALFORMED:
            answers = []
            for key in (None, "guess", keys[access]):
                auth = {"x-api-key": key} if key else {}
                response = await api.client.request(
                    method, path, headers={**headers, **auth}, content=body
                )
                assert response.headers["content-type"] == PROBLEM, (path, key)
                answers.append(response.status_code)
            assert answers[:2] == [401, 403], (method, path, body, answers)
            # With the right key the request gets as far as its flaw: the checks above could fail.
            assert answers[2] not in (401, 403) and answers[2] >= 400, (method, path, answers)
