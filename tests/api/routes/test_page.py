"""GET / and GET /page/live (the fragment the page's script swaps in, with ETag/304)."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api
from tests.api.rows import Rows, at_noon, today


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


async def test_the_live_fragment_follows_the_alert_history(api: Api, rows: Rows) -> None:
    live = await api.client.get("/page/live")
    assert "No alert fired in the last 36 months." in live.text
    started = at_noon(today() - timedelta(days=60))
    await rows.alert(
        "PK-SD", state="resolved", started=started, resolved=started + timedelta(days=9)
    )
    await api.refresh()
    fresh = await api.client.get("/page/live", headers={"If-None-Match": live.headers["etag"]})
    assert fresh.status_code == 200 and fresh.headers["etag"] != live.headers["etag"]
    fired_day = (today() - timedelta(days=58)).isoformat()
    assert f"fired <time>{fired_day}</time>" in fresh.text
    assert '<li><span class="who">Sindh</span>' in fresh.text
    assert 'class="band surge"' in fresh.text and "alerts firing in" in fresh.text
    page = await api.client.get("/")
    assert f'data-etag="{fresh.headers["etag"].replace(chr(34), "&quot;")}"' in page.text
