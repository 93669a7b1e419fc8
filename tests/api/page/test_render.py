"""The page rendered from a picture: everything inline, status as text, input escaped."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from services.api.page.render import PageRenderer
from services.api.picture import DayCount, compute_picture
from services.api.schemas import AlertOut
from services.core.gazetteer import load_gazetteer

GAZ = load_gazetteer()


def picture_with(alert_rule: str) -> object:
    alert = AlertOut(
        id=7, rule=alert_rule, method="ratio", metric="incidents", province="PK-KP",
        state="firing", severity="critical", window="7d",
        started_at=datetime(2024, 6, 27, tzinfo=UTC), fired_at=datetime(2024, 6, 29, tzinfo=UTC),
        resolved_at=None, acknowledged_at=None, acknowledged_by=None, observed=30, expected=6,
        threshold=12, score=5, p_value=None, baseline_start=None, baseline_end=None,
        explanation={}, summary="30 incidents in 7d vs 6.0 expected",
    )  # fmt: skip
    return compute_picture(
        GAZ, as_of=datetime(2024, 6, 30, 19, tzinfo=UTC), as_of_day=date(2024, 6, 30),
        clock="event_time", history_start=date(2024, 1, 1),
        counts=[DayCount("PK-KP", "PK-TA", date(2024, 6, 29), 3, 4, 5)], alerts=[alert],
    )  # fmt: skip


def test_page_is_self_contained_and_labels_status_in_text() -> None:
    renderer = PageRenderer.load()
    html = renderer.page(picture_with("surge_ratio_4w"), '"etag-1"')  # type: ignore[arg-type]
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN, no external asset
    assert "<style>" in html and "<script>" in html and 'data-etag="&quot;etag-1&quot;"' in html
    assert 'class="critical"' in html and ">critical<" in html  # colour and a text label
    assert "30 incidents in 7d vs 6.0 expected" in html
    assert "Made with Natural Earth" in html and "not authoritative" in html
    assert "event time: counts up to and including 2024-06-30" in html
    assert 'name="viewport"' in html


def test_alert_text_is_escaped() -> None:
    html = PageRenderer.load().live(picture_with("<script>alert(1)</script>"))  # type: ignore[arg-type]
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_without_a_picture_the_page_says_so() -> None:
    assert "not available yet" in PageRenderer.load().page(None, "")
