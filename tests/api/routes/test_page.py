"""GET / and GET /page/live (the fragment the page's script swaps in, with ETag/304)."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.rows import Rows, today


async def test_page_and_live_fragment(api: Api, rows: Rows) -> None:
    page = await api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Provinces by status" in page.text and page.headers["cache-control"] == "no-cache"
    live = await api.client.get("/page/live")
    etag = live.headers["etag"]
    assert live.status_code == 200 and "<html" not in live.text
    assert f'data-etag="{etag.replace(chr(34), "&quot;")}"' in page.text
    assert (await api.client.get("/page/live", headers={"If-None-Match": etag})).status_code == 304

    await rows.alert("PK-PB", state="firing", severity="critical")
    await rows.counts("PK-PB", today(), 1)
    await api.refresh()
    fresh = await api.client.get("/page/live", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and 'class="critical"' in fresh.text
    assert "/" not in (await api.client.get("/openapi.json")).json()["paths"]
