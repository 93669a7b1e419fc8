"""The bar strip: bars to scale, months on alert shaded and named in words."""

from __future__ import annotations

import re
from datetime import date

import pytest

from services.api.page.history import Strip, month_starts
from services.api.page.sparkline import (
    HEIGHT,
    MIN_SCALE,
    TOP,
    axis,
    caption,
    describe,
    scale_of,
    strip_svg,
)
from services.api.schemas import Status

MONTHS = month_starts(date(2024, 12, 31))


def strip(counts: list[int], on: dict[int, Status] | None = None) -> Strip:
    levels: list[Status | None] = [None] * len(MONTHS)
    for i, level in (on or {}).items():
        levels[i] = level
    return Strip(
        code="PK-BA", name="Balochistan", counts=counts, levels=levels, fired=len(on or {})
    )


def ramp() -> list[int]:
    return [7 + i for i in range(len(MONTHS) - 1)] + [34]


def test_the_text_alternative_says_first_last_peak_and_alert_months() -> None:
    counts = ramp()
    counts[31] = 45  # Aug 2024
    text = describe("Balochistan", strip(counts, {27: "critical", 31: "surge"}), MONTHS, False)
    assert text == (
        "Balochistan: 7 incidents in Jan 2022 … 34 in Dec 2024; peak 45 in Aug 2024; "
        "alerts firing in Apr, Aug 2024"
    )
    quiet = describe("Punjab", strip([0] * 35 + [2]), MONTHS, True)
    assert quiet == (
        "Punjab: 0 incidents in Jan 2022 … 2 in Dec 2024 (so far); peak 2 in Dec 2024; "
        "no alert fired"
    )


def bars(svg: str) -> list[tuple[str, float]]:
    """(class, height) of each bar."""
    return [
        (cls, float(h))
        for cls, h in re.findall(r'<rect class="(bar[^"]*)" x="[^"]+" y="[^"]+" width="\d+" '
                                 r'height="([\d.]+)"', svg)
    ]  # fmt: skip


def test_bars_are_to_the_given_scale_and_months_on_alert_are_shaded() -> None:
    counts = [0] * 34 + [40, 80]
    svg = strip_svg("Balochistan", strip(counts, {34: "surge", 35: "critical"}), MONTHS, False, 40)
    heights = bars(svg)
    assert len(heights) == len(MONTHS)
    assert heights[0] == ("bar", 0.0)
    assert heights[34] == ("bar on", HEIGHT - TOP)  # the scale: full height
    assert heights[35] == ("bar on", HEIGHT - TOP)  # over the scale: clipped, not overdrawn
    assert svg.count('class="band surge"') == 1 and svg.count('class="band critical"') == 1
    assert svg.count('class="year"') == 2  # Jan 2023, Jan 2024
    assert 'role="img"' in svg and 'aria-label="Balochistan: 0 incidents in Jan 2022' in svg
    assert "<title>Dec 2024: 80 incidents; alert firing (critical)</title>" in svg


def test_a_single_incident_stays_visible_and_small() -> None:
    counts = [0] * 35 + [1]
    heights = bars(strip_svg("Gilgit-Baltistan", strip(counts), MONTHS, False, 40))
    assert 0 < heights[-1][1] < (HEIGHT - TOP) / 10


@pytest.mark.parametrize(
    ("counts", "scale"),
    [([[0] * 36], MIN_SCALE), ([[0] * 35 + [2]], MIN_SCALE), ([[3] * 36, [0] * 35 + [45]], 45)],
)
def test_scale_of(counts: list[list[int]], scale: int) -> None:
    assert scale_of(*(strip(c) for c in counts)) == scale


def test_names_are_escaped_in_the_text_alternative() -> None:
    svg = strip_svg('A "quoted" <b>', strip([1] * 36), MONTHS, False, 4)
    assert 'aria-label="A &quot;quoted&quot; &lt;b&gt;: 1 incidents' in svg


@pytest.mark.parametrize(
    ("as_of", "labels"),
    [
        (date(2024, 12, 31), ["2022", "2023", "2024"]),
        (date(2023, 11, 15), ["", "2021", "2022", "2023"]),
    ],
)
def test_the_axis_labels_years_with_room(as_of: date, labels: list[str]) -> None:
    html = axis(month_starts(as_of))
    assert re.findall(r'<span style="flex-grow: \d+">(\d*)</span>', html) == labels
    assert 'aria-hidden="true"' in html


def test_the_caption_names_the_months_on_alert() -> None:
    assert caption(strip([0] * 36), MONTHS) == ""
    text = caption(strip([0] * 36, {31: "surge", 32: "surge", 33: "surge"}), MONTHS)
    assert text == '<span class="onalert">alerts: Aug\u2060–\u2060Oct 2024</span>'
