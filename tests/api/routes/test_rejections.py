"""GET /v1/rejections: operator only, most recent first, filter by reason, pages."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from tests.api.conftest import Api
from tests.api.rows import Rows

OPERATOR = {"authorization": "Bearer op-1"}


async def test_rejections(
    make_api: Callable[..., AbstractAsyncContextManager[Api]], rows: Rows
) -> None:
    reasons = ["invalid_json", "schema", "unknown_province", "schema", "too_large"]
    for offset, reason in enumerate(reasons):
        await rows.rejection(reason, offset, raw=None if reason == "too_large" else b"\xff{bad")
    async with make_api(operator_keys="op-1", api_keys="read-1") as api:
        get = api.client.get
        assert (await get("/v1/rejections")).status_code == 401
        refused = await get("/v1/rejections", headers={"x-api-key": "read-1"})
        assert refused.status_code == 403

        body = (await get("/v1/rejections", headers=OPERATOR)).json()
        assert [r["offset"] for r in body["items"]] == [4, 3, 2, 1, 0]
        newest, oldest = body["items"][0], body["items"][-1]
        assert newest["size"] is None and newest["preview"] is None
        assert oldest["preview"] == "\ufffd{bad" and oldest["size"] == 5
        assert oldest["reason"] == "invalid_json" and oldest["detail"]

        schema = (await get("/v1/rejections?reason=schema", headers=OPERATOR)).json()
        assert [r["offset"] for r in schema["items"]] == [3, 1]

        page = (await get("/v1/rejections?limit=2", headers=OPERATOR)).json()
        rest = (
            await get(f"/v1/rejections?limit=10&cursor={page['next_cursor']}", headers=OPERATOR)
        ).json()
        offsets = [r["offset"] for r in page["items"] + rest["items"]]
        assert offsets == [4, 3, 2, 1, 0] and rest["next_cursor"] is None

        for query in ("reason=boredom", "cursor=xyz", "limit=-1"):
            bad = await get(f"/v1/rejections?{query}", headers=OPERATOR)
            assert bad.status_code in (400, 422), query
            assert bad.headers["content-type"] == "application/problem+json"
