"""The status page in headless Chromium, served by a real uvicorn over a seeded database."""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np

from services.api.app import create_app
from services.core.settings import load_settings
from tests.api.conftest import listening
from tests.api.rows import Rows, at_noon, today

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]
# Incidents a day, roughly in the proportions of 2023's public figures.
RATES = {"PK-BA": 0.6, "PK-KP": 0.9, "PK-SD": 0.1, "PK-PB": 0.05, "PK-GB": 0.01, "PK-JK": 0.01}


# A Balochistan surge that fired and resolved months ago: the page must still tell of it.
PAST_SURGE_DAYS = range(150, 120, -1)  # days back


async def seed(rows: Rows) -> None:
    rng = np.random.default_rng(2024)
    day0 = today()
    for code, rate in RATES.items():
        per_day = {}
        for back in range(400):
            recent, past = back < 7, back in PAST_SURGE_DAYS
            surge = 4 if code == "PK-BA" and (recent or past) else 1
            n = int(rng.poisson(rate * surge))
            if n:
                per_day[day0 - timedelta(days=back)] = (
                    n,
                    int(rng.poisson(1.5 * n)),
                    int(rng.poisson(2.5 * n)),
                )
        await rows.daily(code, per_day)
    await rows.counts("PK-KP", day0 - timedelta(days=2), 2, 3, 1, subregion="PK-TA")
    await rows.alert("PK-BA", observed=19, expected=4.3)
    began = at_noon(day0 - timedelta(days=PAST_SURGE_DAYS[0]))
    ended = at_noon(day0 - timedelta(days=PAST_SURGE_DAYS[-1]))
    await rows.alert("PK-BA", state="resolved", started=began, resolved=ended, observed=27,
                     expected=8.1, rule="surge_nb_tail_14d", severity="critical")  # fmt: skip
    await rows.alert("PK-PB", state="resolved", fires=False, started=began, resolved=began)
    await rows.alert(
        "PK-SD", state="pending", rule="ears_c2", severity="info", observed=3, expected=0.7
    )


async def chromium(url: str, profile: Path, *action: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "--window-size=1280,1300",
        *action,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"chromium exited with {process.returncode}"
    return out


async def test_the_page_shows_provinces_and_alerts(
    database_url: str, rows: Rows, tmp_path: Path
) -> None:
    assert shutil.which(CHROMIUM), "chromium is required (make services installs it)"
    await seed(rows)
    app = create_app(load_settings(database_url=database_url))
    screenshot = tmp_path / "page.png"
    async with listening(app) as base:
        dom, _ = await asyncio.gather(
            chromium(f"{base}/", tmp_path / "a", "--dump-dom"),
            chromium(f"{base}/", tmp_path / "b", f"--screenshot={screenshot}"),
        )
    html = dom.decode()
    for name in ("Balochistan", "Khyber Pakhtunkhwa", "Sindh", "Punjab", "Gilgit-Baltistan"):
        assert name in html
    assert html.count("<path class=") == 8 and html.count(" data-code=") == 7
    assert 'class="surge"' in html and 'class="elevated"' in html
    assert "19 incidents in 7d vs 4.3 expected" in html  # the alert, with its explanation
    assert "Made with Natural Earth" in html and "not authoritative" in html
    assert "Former FATA" in html
    # The alert history: the past surge, with its days, and the pending noise only counted.
    fired_day, resolved_day = (today() - timedelta(days=d) for d in (148, PAST_SURGE_DAYS[-1]))
    history = html[html.index('id="history-h"') :]
    entry = f"fired <time>{fired_day}</time> → resolved <time>{resolved_day}</time>"
    assert entry in history and "27 incidents vs 8.1 expected" in history
    assert "and 1 pending alert that cleared without firing" in history
    # The months strip: one per province and one for the country, the surge's months shaded.
    assert html.count('<svg class="spark"') == 8
    strip = re.search(r'<svg class="spark"[^>]*aria-label="(Balochistan:[^"]*)"', html)
    assert strip is not None and f"alerts firing in {fired_day:%b}" in strip[1]
    ba = html[strip.start() : html.index("</svg>", strip.start())]
    assert 'class="band critical"' in ba and 'class="bar on"' in ba
    # The map recalls it: Balochistan outlined, the months under its status.
    assert html.count('<path class="recalled"') == 1
    assert re.search(rf'<tspan class="past"[^>]*>alerts [^<]*{fired_day:%b}', html)
    assert screenshot.stat().st_size > 20_000
    if dest := _screenshot_destination():
        shutil.copyfile(screenshot, dest)


def _screenshot_destination() -> Path | None:
    """Set SURGEWATCH_PAGE_SCREENSHOT to keep the screenshot (docs/status-page.png, say)."""
    import os

    value = os.environ.get("SURGEWATCH_PAGE_SCREENSHOT")
    return Path(value) if value else None
