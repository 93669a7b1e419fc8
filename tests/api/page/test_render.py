"""The page rendered from a picture: everything inline, status as text, input escaped."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from services.api.page.history import History, compute_history
from services.api.page.render import PageRenderer
from services.api.picture import DayCount, compute_picture
from services.api.schemas import AlertOut, Picture
from services.core.gazetteer import load_gazetteer
from tests.api.page.alerts import fired

GAZ = load_gazetteer()


def alert_with(rule: str) -> AlertOut:
    return AlertOut(
        id=7, rule=rule, method="ratio", metric="incidents", province="PK-KP",
        state="firing", severity="critical", window="7d",
        started_at=datetime(2024, 6, 27, tzinfo=UTC), fired_at=datetime(2024, 6, 29, tzinfo=UTC),
        resolved_at=None, acknowledged_at=None, acknowledged_by=None, observed=30, expected=6,
        threshold=12, score=5, p_value=None, baseline_start=None, baseline_end=None,
        explanation={}, summary="30 incidents in 7d vs 6.0 expected",
    )  # fmt: skip


def picture_with(alert_rule: str) -> Picture:
    return compute_picture(
        GAZ, as_of=datetime(2024, 6, 30, 19, tzinfo=UTC), as_of_day=date(2024, 6, 30),
        clock="event_time", history_start=date(2024, 1, 1),
        counts=[DayCount("PK-KP", "PK-TA", date(2024, 6, 29), 3, 4, 5)],
        alerts=[alert_with(alert_rule)],
    )  # fmt: skip


def history_with(alert_rule: str) -> History:
    alert = alert_with(alert_rule)
    return compute_history(
        GAZ, as_of_day=date(2024, 6, 30), clock="event_time", monthly=[], fired=[alert],
        latest_fired=[alert], fired_total=1, cleared_unfired=0,
    )  # fmt: skip


def test_page_is_self_contained_and_labels_status_in_text() -> None:
    renderer = PageRenderer.load()
    rule = "surge_ratio_4w"
    html = renderer.page(picture_with(rule), history_with(rule), '"etag-1"')
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN, no external asset
    assert "<style>" in html and "<script>" in html and 'data-etag="&quot;etag-1&quot;"' in html
    assert 'class="critical"' in html and ">critical<" in html  # colour and a text label
    assert "30 incidents in 7d vs 6.0 expected" in html
    assert "Made with Natural Earth" in html and "not authoritative" in html
    assert "event time: counts up to and including 2024-06-30" in html
    assert 'name="viewport"' in html


def test_alert_text_is_escaped() -> None:
    rule = "<script>alert(1)</script>"
    html = PageRenderer.load().live(picture_with(rule), history_with(rule))
    assert "<script>alert(1)</script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # open alerts and history


def test_without_a_picture_the_page_says_so() -> None:
    assert "not available yet" in PageRenderer.load().page(None, None, "")


def test_the_map_recalls_the_last_twelve_months_of_alerts() -> None:
    def live_with(fired_days: list[date]) -> str:
        alerts = [fired(d, d + timedelta(days=20), id_=n) for n, d in enumerate(fired_days)]
        history = compute_history(
            GAZ, as_of_day=date(2024, 12, 31), clock="event_time", monthly=[], fired=alerts,
            latest_fired=alerts, fired_total=len(alerts), cleared_unfired=0,
        )  # fmt: skip
        return PageRenderer.load().live(picture_with("r"), history)

    html = live_with([date(2023, 11, 28), date(2024, 4, 19), date(2024, 8, 19)])
    assert html.count('<path class="recalled"') == 1  # Balochistan, outlined
    assert '<tspan class="past" x="' in html and ">alerts Apr–May, Aug–Sep 2024</tspan>" in html
    assert "Balochistan normal (alerts firing in Apr–May, Aug–Sep 2024)" in html  # map's title
    assert "Dashed outline: a firing alert in the last 12 months" in html
    old = live_with([date(2023, 11, 28)])  # more than a year before as_of: the table tells it
    assert '<path class="recalled"' not in old and 'class="past"' not in old
    assert "Dashed outline" not in old and "alerts: Nov\u2060–\u2060Dec 2023" in old
