"""The picture's arithmetic, with tables of cases (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.api.picture import DayCount, Windows, compute_picture, status_of, trend_of
from services.api.schemas import AlertOut
from services.core.gazetteer import load_gazetteer

AS_OF = date(2024, 6, 30)
GAZ = load_gazetteer()


def alert(state: str, severity: str, province: str = "PK-BA", id_: int = 1) -> AlertOut:
    at = datetime(2024, 6, 28, tzinfo=UTC)
    return AlertOut(
        id=id_, rule="r", method="ratio", metric="incidents", province=province, state=state,
        severity=severity, window="7d", started_at=at, fired_at=None, resolved_at=None,
        acknowledged_at=None, acknowledged_by=None, observed=9, expected=3, threshold=6,
        score=3, p_value=None, baseline_start=None, baseline_end=None, explanation={},
        summary="9 incidents in 7d vs 3.0 expected",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("alerts", "status"),
    [
        ([], "normal"),
        ([("pending", "critical")], "elevated"),
        ([("firing", "info")], "elevated"),
        ([("firing", "warning")], "surge"),
        ([("pending", "info"), ("firing", "warning")], "surge"),
        ([("firing", "warning"), ("firing", "critical")], "critical"),
        ([("resolved", "critical")], "normal"),
    ],
)
def test_status_follows_the_open_alerts(alerts: list[tuple[str, str]], status: str) -> None:
    assert status_of([alert(s, sev) for s, sev in alerts]) == status


@pytest.mark.parametrize(
    ("recent", "prior", "trend"),
    [(0, 0, "steady"), (10, 9, "steady"), (30, 10, "rising"), (5, 25, "falling"), (3, 0, "steady")],
)
def test_trend_is_a_poisson_comparison(recent: int, prior: int, trend: str) -> None:
    assert trend_of(recent, prior)[0] == trend


def test_windows_and_baseline_are_clipped_to_history() -> None:
    win = Windows(AS_OF, history_start=date(2024, 5, 1))
    assert win.last(7) == (date(2024, 6, 24), AS_OF)
    assert win.prior(7) == (date(2024, 6, 17), date(2024, 6, 23))
    assert win.baseline() == (date(2024, 5, 1), date(2024, 6, 23))
    assert Windows(AS_OF, history_start=date(2024, 6, 20)).baseline() is None
    assert Windows(AS_OF, history_start=None).baseline() is None
    full = Windows(AS_OF, history_start=date(2020, 1, 1)).baseline()
    assert full is not None and (full[1] - full[0]).days + 1 == 364


def days(
    province: str, start: date, end: date, per_day: int, subregion: str = ""
) -> list[DayCount]:
    n = (end - start).days + 1
    return [
        DayCount(province, subregion, start + timedelta(days=i), per_day, per_day * 2, 1)
        for i in range(n)
    ]


def test_counts_expected_change_band_and_subregions() -> None:
    history = date(2023, 1, 1)
    counts = [
        *days("PK-BA", history, AS_OF - timedelta(days=7), 1),  # a baseline of 7 a week
        *days("PK-BA", AS_OF - timedelta(days=6), AS_OF, 6),  # 42 in the last 7 days
        *days("PK-KP", AS_OF - timedelta(days=6), AS_OF, 1, subregion="PK-TA"),
        *days("PK-KP", AS_OF - timedelta(days=6), AS_OF, 2),
    ]
    picture = compute_picture(
        GAZ, as_of=datetime(2024, 6, 30, 19, tzinfo=UTC), as_of_day=AS_OF, clock="event_time",
        history_start=history, counts=counts,
        alerts=[alert("firing", "warning"), alert("resolved", "critical", id_=2)],
    )  # fmt: skip
    ba = next(p for p in picture.provinces if p.code == "PK-BA")
    assert (ba.incidents_7d, ba.killed_7d, ba.injured_7d) == (42, 84, 7)
    assert (ba.incidents_28d, ba.incidents_prior_28d) == (42 + 21, 28)
    assert ba.expected_incidents_7d == pytest.approx(7.0)
    assert ba.band is not None and ba.band.low == pytest.approx(7 - 2 * 7**0.5, abs=1e-3)
    assert ba.change_pct == pytest.approx(500.0)
    assert ba.trend == "rising"
    assert ba.status == "surge" and [a.id for a in ba.alerts] == [1]
    kp = next(p for p in picture.provinces if p.code == "PK-KP")
    assert kp.incidents_7d == 21 and kp.status == "normal"
    assert kp.change_pct is None  # the prior 7 days had none
    assert [(s.code, s.incidents_7d) for s in kp.subregions] == [("PK-TA", 7)]
    assert all(p.subregions == [] for p in picture.provinces if p.code != "PK-KP")
    assert picture.national.incidents_7d == 42 + 21
    assert picture.national.active_alerts == 1 and picture.national.firing_alerts == 1
    assert [p.code for p in picture.provinces] == list(GAZ.codes)


def test_without_history_nothing_is_expected() -> None:
    picture = compute_picture(
        GAZ, as_of=datetime(2024, 6, 30, tzinfo=UTC), as_of_day=AS_OF, clock="live",
        history_start=None, counts=[], alerts=[],
    )  # fmt: skip
    assert all(p.expected_incidents_7d is None and p.band is None for p in picture.provinces)
    assert all(p.status == "normal" and p.trend == "steady" for p in picture.provinces)
