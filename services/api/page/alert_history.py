"""The page's "Alert history" panel: who was on alert in the months shown, then the newest
alerts that fired, each with its rule, severity, days and observed vs expected.

Alerts that went pending and cleared without firing are only counted: they are the detectors'
noise, and the full list is one link away (/v1/alerts?state=all).
"""

from __future__ import annotations

from html import escape

from services.api.page.history import MONTHS, Episode, History, Strip, alert_months


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _who_was_on_alert(history: History) -> str:
    """One line per province with alert months, the most recent first."""
    on_alert: list[tuple[int, Strip]] = []
    for strip in history.provinces:
        flags = [level is not None for level in strip.levels]
        if any(flags):
            on_alert.append((max(i for i, f in enumerate(flags) if f), strip))
    if not on_alert:
        return f'<p class="lede">No alert fired in the last {MONTHS} months.</p>'
    on_alert.sort(key=lambda pair: (-pair[0], pair[1].name))
    items = "".join(
        f'<li><span class="who">{escape(s.name)}</span> '
        f"{escape(alert_months(s, history.months))}"
        f' <span class="count">({_plural(s.fired, "alert", "alerts")} fired)</span></li>'
        for _, s in on_alert
    )
    return (
        f'<p class="lede">Provinces on alert in the last {MONTHS} months '
        f'(months with a firing alert):</p><ul class="onalert-list">{items}</ul>'
    )


def _episode(episode: Episode, names: dict[str, str]) -> str:
    a = episode.alert
    until = (
        f"resolved <time>{episode.resolved_day.isoformat()}</time>"
        if episode.resolved_day
        else "<strong>still firing</strong>"
    )
    severity = escape(a.severity)
    return (
        f'<li class="episode {severity}"><div class="head">'
        f'<span class="badge {severity}">{severity}</span>'
        f'<span class="who">{escape(names.get(a.province, a.province))}</span>'
        f'<span class="rule">{escape(a.rule)} <span class="method">({escape(a.method)}, '
        f"{escape(a.window)})</span></span></div>"
        f'<p class="meta">fired <time>{episode.fired_day.isoformat()}</time> → {until} · '
        f"{a.observed:g} {escape(a.metric)} vs {a.expected:.1f} expected</p></li>"
    )


def alert_history(history: History) -> str:
    names = {s.code: s.name for s in history.provinces}
    shown = len(history.latest_fired)
    episodes = "".join(_episode(e, names) for e in history.latest_fired)
    listing = f'<ol class="episodes">{episodes}</ol>' if episodes else ""
    if shown < history.fired_total:
        tally = f"The latest {shown} of {history.fired_total} alerts that fired"
    else:
        tally = f"{_plural(history.fired_total, 'alert', 'alerts')} fired in all"
    cleared = _plural(history.cleared_unfired, "pending alert", "pending alerts")
    return (
        '<section class="panel history" aria-labelledby="history-h">'
        f'<h2 id="history-h">Alert history</h2>{_who_was_on_alert(history)}{listing}'
        f'<p class="more">{tally}; and {cleared} that cleared without firing. '
        '<a href="/v1/alerts?state=all">Every alert (JSON)</a></p></section>'
    )
