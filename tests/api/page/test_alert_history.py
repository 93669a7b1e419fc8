"""The "Alert history" panel: who was on alert, the newest fired alerts, pending noise counted."""

from __future__ import annotations

import re
from datetime import date

from services.api.page.alert_history import alert_history
from services.api.page.history import LATEST, compute_history
from services.api.schemas import AlertOut
from services.core.gazetteer import load_gazetteer
from tests.api.page.alerts import fired

GAZ = load_gazetteer()
AS_OF = date(2024, 12, 31)


def panel(alerts: list[AlertOut], fired_total: int, cleared: int) -> str:
    newest_first = sorted(alerts, key=lambda a: (a.fired_at, a.id), reverse=True)
    history = compute_history(
        GAZ, as_of_day=AS_OF, clock="event_time", monthly=[], fired=alerts,
        latest_fired=newest_first[:LATEST], fired_total=fired_total, cleared_unfired=cleared,
    )  # fmt: skip
    return alert_history(history)


def test_the_fired_alerts_newest_first_with_their_days_and_numbers() -> None:
    alerts = [
        fired(date(2023, 1, 11), date(2023, 1, 25), province="PK-KP", id_=8,
              rule="threat_ratio_52w"),
        fired(date(2024, 4, 22), date(2024, 6, 1), severity="critical", id_=46, observed=30,
              expected=11.174, rule="record_30d_2y"),
        fired(date(2024, 12, 20), id_=61),
    ]  # fmt: skip
    html = panel(alerts, fired_total=3, cleared=48)
    days = re.findall(r"fired <time>([\d-]+)</time>", html)
    assert days == ["2024-12-20", "2024-04-22", "2023-01-11"]
    assert "fired <time>2024-12-20</time> → <strong>still firing</strong>" in html
    assert "fired <time>2024-04-22</time> → resolved <time>2024-06-01</time>" in html
    assert "30 incidents vs 11.2 expected" in html and "record_30d_2y" in html
    assert '<span class="badge critical">critical</span>' in html  # severity in text too
    assert "3 alerts fired in all; and 48 pending alerts that cleared without firing" in html
    assert 'href="/v1/alerts?state=all"' in html
    # Who was on alert, the most recent first, months in words.
    who = re.findall(r'<li><span class="who">([^<]+)</span> ([^<]+) <span', html)
    assert who == [("Balochistan", "Apr–May, Dec 2024"), ("Khyber Pakhtunkhwa", "Jan 2023")]


def test_only_the_latest_are_listed() -> None:
    alerts = [fired(date(2024, 1, 1 + i), date(2024, 1, 2 + i), id_=i + 1) for i in range(20)]
    html = panel(alerts, fired_total=20, cleared=1)
    assert html.count('<li class="episode') == LATEST
    assert f"The latest {LATEST} of 20 alerts that fired; and 1 pending alert that" in html


def test_nothing_fired() -> None:
    html = panel([], fired_total=0, cleared=2)
    assert "No alert fired in the last 36 months." in html and "<ol" not in html
    assert "0 alerts fired in all; and 2 pending alerts that cleared without firing" in html
