"""A province's months as an inline SVG bar strip, with the months on alert shaded.

The caller picks the scale (`scale` incidents = full height): the page draws every province to
one scale, so a province with a handful of incidents does not look like one with hundreds.
The strip is an image with a text alternative that says what it shows; the caption under it
names the months on alert in words, so colour is never the only carrier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

from services.api.page.history import Strip, alert_months, month_name

PITCH = 6  # SVG units per month: a 5-unit bar and a 1-unit gap
BAR = 5
HEIGHT = 40
TOP = 2  # headroom above the tallest bar
MIN_SCALE = 4


def describe(name: str, strip: Strip, months: Sequence[date], partial_last: bool) -> str:
    """The strip in words: 'Balochistan: 7 incidents in Jan 2022 … 34 in Dec 2024 (so far);
    peak 45 in Aug 2024; alerts firing in Aug 2023; Apr–May 2024'."""
    counts = strip.counts
    last = f"{counts[-1]} in {month_name(months[-1])}" + (" (so far)" if partial_last else "")
    text = f"{name}: {counts[0]} incidents in {month_name(months[0])} … {last}"
    peak = max(range(len(counts)), key=lambda i: (counts[i], i))
    if counts[peak]:
        text += f"; peak {counts[peak]} in {month_name(months[peak])}"
    runs = alert_months(strip, months)
    return text + (f"; alerts firing in {runs}" if runs else "; no alert fired")


def scale_of(*strips: Strip) -> int:
    """The full-height count for these strips: their highest month, at least `MIN_SCALE`."""
    return max(MIN_SCALE, *(max(s.counts, default=0) for s in strips))


def strip_svg(
    name: str, strip: Strip, months: Sequence[date], partial_last: bool, scale: int
) -> str:
    """The bar strip: one bar a month, the months with a firing alert on a shaded band."""
    parts = []
    for i, (month, count, level) in enumerate(zip(months, strip.counts, strip.levels, strict=True)):
        x = i * PITCH
        if level is not None:
            parts.append(f'<rect class="band {level}" x="{x - 0.5}" y="0" width="{PITCH}" '
                         f'height="{HEIGHT}"/>')  # fmt: skip
        if month.month == 1 and i:
            parts.append(f'<line class="year" x1="{x - 0.5}" y1="0" x2="{x - 0.5}" y2="{HEIGHT}"/>')
        h = 0.0 if count == 0 else max(1.5, min(count, scale) / scale * (HEIGHT - TOP))
        note = f"; alert firing ({level})" if level else ""
        so_far = " so far" if partial_last and i == len(months) - 1 else ""
        parts.append(
            f'<rect class="bar{" on" if level else ""}" x="{x}" y="{HEIGHT - h:.1f}" '
            f'width="{BAR}" height="{h:.1f}"><title>{month_name(month)}: {count} incidents'
            f"{so_far}{note}</title></rect>"
        )
    label = escape(describe(name, strip, months, partial_last), quote=True)
    return (
        f'<svg class="spark" viewBox="-1 0 {len(months) * PITCH + 1} {HEIGHT}" '
        f'role="img" aria-label="{label}">'
        f'<line class="base" x1="-1" y1="{HEIGHT - 0.5}" x2="{len(months) * PITCH}" '
        f'y2="{HEIGHT - 0.5}"/>{"".join(parts)}</svg>'
    )


def axis(months: Sequence[date]) -> str:
    """Year labels over the strips' months (for the column's header), as wide as a strip."""
    spans: list[tuple[int, int]] = []  # (year, months of it shown)
    for month in months:
        if spans and spans[-1][0] == month.year:
            spans[-1] = (month.year, spans[-1][1] + 1)
        else:
            spans.append((month.year, 1))
    # Only years with room for four digits (three months or more) get a label.
    cells = "".join(
        f'<span style="flex-grow: {n}">{year if n >= 3 else ""}</span>' for year, n in spans
    )
    return f'<span class="axis" aria-hidden="true">{cells}</span>'


def caption(strip: Strip, months: Sequence[date]) -> str:
    """The months on alert, in words, under the strip ('' where none)."""
    runs = alert_months(strip, months)
    # Word joiners keep 'Aug–Oct' on one line when the caption wraps.
    text = escape(runs).replace("–", "\u2060–\u2060")
    return f'<span class="onalert">alerts: {text}</span>' if runs else ""
