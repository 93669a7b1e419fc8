"""The demo feed against DESIGN.md's public figures (pure and fast: no broker)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime

import pytest

from services.core.events import Incident, Retraction
from services.feeds import envelope
from services.feeds.demo import generate
from tests.feeds.support import final_state, parse_value

SEEDS = [1, 2024, 99]

# Public figures (DESIGN.md): attacks, killed, injured per year; 2024 is "about 54 a month".
YEARLY = {2022: (380, 539, 836), 2023: (600, 976, 1354)}
PER_MONTH_2024 = 54
# 2023→2024 change by province (KP includes the former FATA).
CHANGES = {"PK-BA": 0.96, "PK-SD": 0.47, "PK-KP": -0.24, "PK-PB": -0.85}
# Rough boxes (lat, lon) each province's incidents must fall in (former FATA is inside PK-KP's).
BOXES = {
    "PK-BA": ((24.8, 32.1), (60.8, 70.3)),
    "PK-KP": ((31.0, 36.9), (69.2, 74.0)),
    "PK-SD": ((23.6, 28.6), (66.6, 71.2)),
    "PK-PB": ((27.7, 34.0), (69.3, 75.4)),
    "PK-IS": ((33.5, 33.8), (72.8, 73.4)),
    "PK-JK": ((32.9, 35.2), (73.2, 75.0)),
    "PK-GB": ((34.5, 37.1), (72.5, 77.9)),
}


def final(seed: int) -> list[Incident]:
    return list(final_state(parse_value(envelope.encode(e)) for e in generate(seed)).values())


@pytest.fixture(scope="module", params=SEEDS)
def incidents(request: pytest.FixtureRequest) -> list[Incident]:
    return final(request.param)


def per_year(incidents: list[Incident], year: int) -> list[Incident]:
    return [i for i in incidents if i.day.year == year]


def test_yearly_totals_within_five_percent(incidents: list[Incident]) -> None:
    for year, (attacks, killed, injured) in YEARLY.items():
        got = per_year(incidents, year)
        assert len(got) == pytest.approx(attacks, rel=0.05)
        assert sum(i.killed for i in got) == pytest.approx(killed, rel=0.05)
        assert sum(i.injured for i in got) == pytest.approx(injured, rel=0.05)
    assert len(per_year(incidents, 2023)) >= 600  # "600+"
    assert len(per_year(incidents, 2024)) / 12 == pytest.approx(PER_MONTH_2024, rel=0.05)
    assert {i.day.year for i in incidents} == {2022, 2023, 2024}


def test_2023_provincial_shares(incidents: list[Incident]) -> None:
    got = per_year(incidents, 2023)
    n = len(got)
    fata = sum(1 for i in got if i.subregion == "PK-TA")
    kp = sum(1 for i in got if i.province == "PK-KP" and i.subregion is None)
    by = Counter(i.province for i in got)
    assert kp / n == pytest.approx(0.37, abs=0.01)
    assert fata / n == pytest.approx(0.29, abs=0.01)
    assert (by["PK-SD"], by["PK-PB"], by["PK-JK"], by["PK-GB"], by["PK-IS"]) == (35, 14, 1, 1, 1)
    assert by["PK-BA"] == n - kp - fata - 52  # "Balochistan most of the rest"


def test_2023_to_2024_changes_within_two_points(incidents: list[Incident]) -> None:
    before = Counter(i.province for i in per_year(incidents, 2023))
    after = Counter(i.province for i in per_year(incidents, 2024))
    for province, change in CHANGES.items():
        assert after[province] / before[province] - 1 == pytest.approx(change, abs=0.02), province
    # Gilgit-Baltistan had one attack in 2023: −65% of one rounds to none.
    assert after["PK-GB"] == round(before["PK-GB"] * (1 - 0.65))


def test_balochistan_visibly_surges_in_2024(incidents: list[Incident]) -> None:
    def monthly(year: int, half: range) -> float:
        months = Counter(i.day.month for i in per_year(incidents, year) if i.province == "PK-BA")
        return statistics.mean(months[m] for m in half)

    assert monthly(2024, range(7, 13)) > 2 * monthly(2023, range(1, 7))
    share = {
        y: sum(i.province == "PK-BA" for i in per_year(incidents, y)) / len(per_year(incidents, y))
        for y in (2023, 2024)
    }
    assert share[2024] > share[2023] + 0.15


def test_monthly_counts_are_overdispersed(incidents: list[Incident]) -> None:
    ratios = []
    for province in ("PK-KP", "PK-BA"):
        for year in (2022, 2023, 2024):
            months = Counter(
                i.day.month for i in per_year(incidents, year) if i.province == province
            )
            counts = [months[m] for m in range(1, 13)]
            ratios.append(statistics.variance(counts) / statistics.mean(counts))
    assert statistics.mean(ratios) > 1.5  # Poisson would give about 1


def test_casualties_are_heavy_tailed(incidents: list[Incident]) -> None:
    killed = sorted((i.killed for i in incidents), reverse=True)
    top = sum(killed[: len(killed) // 20])
    assert top / sum(killed) > 0.3  # the deadliest 5% carry far more than 5% of the toll
    assert killed.count(0) / len(killed) > 0.25


def test_every_event_is_valid_and_placed_in_its_province(incidents: list[Incident]) -> None:
    for incident in incidents:
        assert incident.lat is not None and incident.lon is not None
        (lat_lo, lat_hi), (lon_lo, lon_hi) = BOXES[incident.province]
        assert lat_lo <= incident.lat <= lat_hi and lon_lo <= incident.lon <= lon_hi, incident
        assert incident.district and incident.perpetrator


def test_shares_of_categories_and_targets_are_plausible(incidents: list[Incident]) -> None:
    categories = Counter(i.category.value for i in incidents)
    targets = Counter(i.target.value for i in incidents if i.target)
    assert categories.most_common(1)[0][0] == "armed_assault"
    assert 0.01 < categories["suicide_bombing"] / len(incidents) < 0.1
    assert targets.most_common(1)[0][0] == "security_forces"
    assert len(categories) >= 8


def test_named_incidents_are_in_the_feed() -> None:
    got = {i.id: i for i in final(2024)}
    peshawar = got["demo-2023-01-30-peshawar-police-lines"]
    assert (peshawar.day.isoformat(), peshawar.province, peshawar.version) == (
        "2023-01-30",
        "PK-KP",
        2,
    )
    assert 84 <= peshawar.killed <= 101
    besham = got["demo-2024-03-26-besham-chinese-engineers"]
    assert (besham.killed, besham.district, besham.target) == (6, "Shangla", "foreign_nationals")
    quetta = got["demo-2024-11-09-quetta-railway-station"]
    assert 26 <= quetta.killed <= 32 and quetta.injured >= 60 and quetta.perpetrator
    assert "BLA" in quetta.perpetrator
    bajaur = got["demo-2023-07-30-bajaur-jui-f-rally"]
    assert (bajaur.subregion, bajaur.killed) == ("PK-TA", 63)
    assert got["demo-2023-09-29-mastung-mawlid-procession"].province == "PK-BA"


def test_corrections_and_a_retraction_are_exercised() -> None:
    events = [parse_value(envelope.encode(e)) for e in generate(2024)]
    versions = Counter((e.source, e.id) for e in events if isinstance(e, Incident))
    retractions = [e for e in events if isinstance(e, Retraction)]
    assert sum(1 for n in versions.values() if n == 2) >= 5
    assert len(retractions) == 1 and retractions[0].reason
    assert (retractions[0].source, retractions[0].id) in versions


def test_events_come_in_publishing_order_with_keys_and_ids() -> None:
    events = list(generate(2024))
    times = [datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times)
    first_reports = [
        parse_value(envelope.encode(e)) for e in events if e["data"].get("version") == 1
    ]
    occurred = [i.occurred_at for i in first_reports if isinstance(i, Incident)]
    assert len(occurred) == len(first_reports) and occurred == sorted(occurred)
    assert len({e["id"] for e in events}) == len(events)
    assert {e["source"] for e in events} == {"surgewatch/demo"}
    assert envelope.key(events[0]) == f"surgewatch/demo\x1f{events[0]['data']['id']}".encode()


def test_the_feed_is_deterministic_per_seed() -> None:
    assert list(generate(7)) == list(generate(7))
    assert list(generate(7)) != list(generate(8))
