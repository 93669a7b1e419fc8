"""The status page, rendered on the server from the picture and its look back (`History`): map,
open alerts, alert history, and the table with each province's months as a bar strip.

`live` renders the part that changes (the page's <main>); the page's script swaps in a fresh
one from /page/live when the stream says the picture changed, so there is one renderer.
Everything is inline: no CDN, no external asset. Status is always shown as text as well as
colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from string import Template

from services.api.page.alert_history import alert_history
from services.api.page.history import RECENT, History, Strip, alert_months, month_name
from services.api.page.map import MapGeometry, load_map
from services.api.page.sparkline import axis, caption, scale_of, strip_svg
from services.api.schemas import STATUSES, AlertOut, Counts, Picture, ProvincePicture

HERE = Path(__file__).resolve().parent
_ARROW = {"rising": "↑ rising", "falling": "↓ falling", "steady": "→ steady"}


def _read(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class PageRenderer:
    template: Template
    css: str
    js: str
    geometry: MapGeometry

    @classmethod
    def load(cls) -> PageRenderer:
        return cls(
            Template(_read("template.html")), _read("page.css"), _read("page.js"), load_map()
        )

    def page(self, picture: Picture | None, history: History | None, etag: str) -> str:
        method = picture.method if picture else {}
        notes = " ".join(
            f"{escape(k.replace('_', ' ').capitalize())}: {escape(v)}."
            for k, v in method.items()
            if k != "status"
        )
        return self.template.substitute(
            css=self.css,
            js=self.js,
            etag=escape(etag, quote=True),
            live=self.live(picture, history),
            method=notes,
        )

    def live(self, picture: Picture | None, history: History | None) -> str:
        if picture is None or history is None:
            return (
                '<p class="notice" role="status">The picture is not available yet: the '
                "database has not answered. This page retries by itself.</p>"
            )
        return "\n".join(
            [
                _as_of(picture),
                _national(picture),
                '<div class="grid">',
                '<div class="side">',
                '<section class="panel map" aria-labelledby="map-h">',
                self._map(picture, history),
                "</section>",
                _alerts(picture),
                "</div>",
                alert_history(history),
                "</div>",
                '<section class="panel" aria-labelledby="table-h">',
                _table(picture, history),
                "</section>",
            ]
        )

    def _map(self, picture: Picture, history: History) -> str:
        by_code = {p.code: p for p in picture.provinces}
        # What the map recalls besides today's status: the months on alert in the last year.
        recalled = {s.code: alert_months(s, history.months, RECENT) for s in history.provinces}
        g = self.geometry
        shapes, outlines, labels = [], [], []
        for shape in g.shapes:
            province = by_code.get(shape.code)
            status = province.status if province else "normal"
            name = escape(shape.name)
            past = escape(recalled.get(shape.code, ""))
            shapes.append(
                f'<path class="{status}" d="{shape.path}" data-code="{shape.code}">'
                f"<title>{name}: {status}{f'; alerts firing in {past}' if past else ''}</title>"
                "</path>"
            )
            if past:  # drawn over every shape, so no neighbour hides part of it
                outlines.append(f'<path class="recalled" d="{shape.path}" aria-hidden="true"/>')
            x, y = shape.label_x, shape.label_y
            if shape.small:  # Islamabad: label off to the side, on a leader line
                lx, ly = x + 62, y + 26
                labels.append(f'<line x1="{x}" y1="{y}" x2="{lx - 26}" y2="{ly - 10}"/>')
                x, y = lx, ly
            lines = "".join(
                f'<tspan x="{x}" dy="{0 if n == 0 else 1.1}em">{escape(line)}</tspan>'
                for n, line in enumerate(_label(shape.name))
            )
            labels.append(
                f'<text x="{x}" y="{y}">{lines}'
                f'<tspan class="st" x="{x}" dy="1.25em">{status}</tspan>'
                + (f'<tspan class="past" x="{x}" dy="1.3em">alerts {past}</tspan>' if past else "")
                + "</text>"
            )
        legend = "".join(
            f'<li><span class="swatch {s}" aria-hidden="true"></span>{s}</li>' for s in STATUSES
        )
        return (
            '<h2 id="map-h">Provinces by status</h2>'
            f'<svg viewBox="0 0 {g.width} {g.height}" role="img" aria-labelledby="map-t">'
            f'<title id="map-t">Map of Pakistan\'s provinces coloured by status: '
            + escape(
                ", ".join(
                    f"{p.name} {p.status}"
                    + (f" (alerts firing in {recalled[p.code]})" if recalled.get(p.code) else "")
                    for p in picture.provinces
                )
            )
            + "</title>"
            + "".join(shapes)
            + "".join(outlines)
            + "".join(labels)
            + f'</svg><ul class="legend" aria-label="Legend">{legend}</ul>'
            + (
                f'<p class="recall"><span class="swatch recalled" aria-hidden="true"></span>'
                f"Dashed outline: a firing alert in the last {RECENT} months (when: under the "
                "status).</p>"
                if any(recalled.values())
                else ""
            )
        )


def _label(name: str) -> list[str]:
    """The map label's lines: long names shortened or broken where the shape is narrow."""
    return {
        "Islamabad Capital Territory": ["Islamabad"],
        "Azad Jammu and Kashmir": ["AJK"],
        "Khyber Pakhtunkhwa": ["Khyber", "Pakhtunkhwa"],
    }.get(name, [name])


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _as_of(picture: Picture) -> str:
    if picture.clock == "event_time":
        clock = f"event time: counts up to and including {picture.as_of_day.isoformat()}"
    else:
        clock = f"live: counts up to today, {picture.as_of_day.isoformat()}"
    return f'<p class="asof">As of {_when(picture.as_of)} · {escape(clock)}</p>'


def _national(picture: Picture) -> str:
    n = picture.national
    stats = [
        (n.incidents_7d, "incidents, last 7 days"),
        (n.killed_7d, "killed, last 7 days"),
        (n.injured_7d, "injured, last 7 days"),
        (n.incidents_28d, "incidents, last 28 days"),
        (n.active_alerts, "open alerts"),
    ]
    cells = "".join(
        f'<div class="stat"><span class="n">{v}</span><span class="l">{escape(label)}</span></div>'
        for v, label in stats
    )
    return f'<section class="national" aria-label="National totals">{cells}</section>'


def _change(counts: Counts) -> str:
    if counts.change_pct is None:
        return "–"
    pct = counts.change_pct
    css = "up" if pct > 0 else "down" if pct < 0 else ""
    return f'<span class="{css}">{pct:+.0f}%</span>'


def _expected(province: ProvincePicture) -> str:
    if province.expected_incidents_7d is None:
        return "–"
    band = province.band
    extra = f'<br><span class="band">{band.low:.1f}–{band.high:.1f}</span>' if band else ""
    return f"{province.expected_incidents_7d:.1f}{extra}"


def _months(name: str, strip: Strip | None, history: History, scale: int = 0) -> str:
    if strip is None:
        return '<td class="months"></td>'
    chart = strip_svg(name, strip, history.months, history.partial_last, scale)
    return f'<td class="months">{chart}{caption(strip, history.months)}</td>'


def _row(name: str, counts: Counts, status: str, expected: str, months: str, css: str = "") -> str:
    badge = f'<span class="badge {status}">{status}</span>' if status else ""
    return (
        f'<tr class="{css}"><td>{escape(name)}</td><td class="st">{badge}</td>{months}'
        f"<td>{counts.incidents_7d}</td><td>{expected}</td><td>{_change(counts)}</td>"
        f'<td class="hide-narrow">{counts.killed_7d} / {counts.injured_7d}</td>'
        f"<td>{counts.incidents_28d}</td><td>{_ARROW[counts.trend]}</td></tr>"
    )


def _table(picture: Picture, history: History) -> str:
    strips = {s.code: s for s in history.provinces}
    scale = scale_of(*history.provinces)  # one scale for the provinces, so they compare
    rows = []
    for p in picture.provinces:
        months = _months(p.name, strips.get(p.code), history, scale)
        rows.append(_row(p.name, p, p.status, _expected(p), months))
        rows.extend(
            _row(f"of which {s.name}", s, "", "", _months(s.name, None, history), "sub")
            for s in p.subregions
        )
    n = picture.national
    national_expected = "–" if n.expected_incidents_7d is None else f"{n.expected_incidents_7d:.1f}"
    national_months = _months("Pakistan", history.national, history, scale_of(history.national))
    span = f"{month_name(history.months[0])} – {month_name(history.months[-1])}"
    if history.partial_last:
        span += f" (to {history.through.day} {month_name(history.through)[:3]})"
    return (
        '<h2 id="table-h">The picture</h2><div class="table-wrap"><table>'
        '<thead><tr><th>Province</th><th class="st">Status</th>'
        f'<th class="months">Incidents a month<br><span class="band">{span}; one scale for '
        "the provinces; shaded: an alert firing</span>"
        f"{axis(history.months)}</th><th>Incidents 7d</th>"
        '<th>Expected 7d<br><span class="band">usual range</span></th><th>vs prior 7d</th>'
        '<th class="hide-narrow">Killed / injured 7d</th>'
        "<th>Incidents 28d</th><th>Trend 28d</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody>"
        f"<tfoot>{_row('Pakistan', n, '', national_expected, national_months)}</tfoot>"
        "</table></div>"
    )


def _alert(alert: AlertOut, province: str) -> str:
    when = f"started {_when(alert.started_at)}"
    if alert.fired_at:
        when += f", firing since {_when(alert.fired_at)}"
    if alert.acknowledged_at:
        when += f"; acknowledged by {escape(alert.acknowledged_by or 'an operator')}"
    return (
        f'<li class="alert {escape(alert.severity)}"><div class="head">'
        f'<span class="badge {escape(alert.state)}">{escape(alert.state)}</span>'
        f'<span class="badge {escape(alert.severity)}">{escape(alert.severity)}</span>'
        f'<span class="who">{escape(province)}</span> · <span>{escape(alert.rule)}</span></div>'
        f"<p>{escape(alert.summary)}</p>"
        f'<p class="meta">{escape(alert.method)} over {escape(alert.window)} · {when}</p></li>'
    )


def _alerts(picture: Picture) -> str:
    items = [_alert(a, p.name) for p in picture.provinces for a in p.alerts]
    body = f"<ol>{''.join(items)}</ol>" if items else '<p class="empty">No open alerts.</p>'
    return (
        '<section class="panel alerts" aria-labelledby="alerts-h">'
        f'<h2 id="alerts-h">Open alerts</h2>{body}</section>'
    )
