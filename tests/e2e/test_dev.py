"""`surgewatch dev` as a user runs it: a clean folder, one command, alerts, then Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import psutil
import pytest

from services.core.broker import free_port
from tests.support.ingest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CODES = {"PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD"}


async def test_dev_reaches_a_picture_with_every_province_and_an_alert_then_stops_clean(
    tmp_path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGEWATCH_")}
    out = (tmp_path / "dev.out").open("wb")
    dev = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "dev",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=out,
        stderr=out,
    )
    family: list[psutil.Process] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def alert_history() -> bool:
                assert dev.returncode is None, (tmp_path / "dev.out").read_text()
                try:
                    alerts = (await http.get("/v1/alerts", params={"state": "all"})).json()
                except httpx.HTTPError:
                    return False
                return any(a["fired_at"] and a["province"] == "PK-BA" for a in alerts["items"])

            await eventually(alert_history, within=150, what="a fired Balochistan alert")
            picture = (await http.get("/v1/picture")).json()
            assert {p["code"] for p in picture["provinces"]} == CODES
            assert picture["as_of"].startswith("2024-12-31")  # event time: the demo's own dates
            page = await http.get("/")
            assert page.status_code == 200 and "Balochistan" in page.text
        family = psutil.Process(dev.pid).children(recursive=True)
        assert len(family) >= 4  # broker, ingest, alerts, api
        banner = (tmp_path / "dev.out").read_text()
        assert f"http://127.0.0.1:{port}/" in banner and "keeps everything in memory" in banner
    finally:
        dev.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(dev.wait(), 60)
        out.close()
    assert code in (0, 130)
    _, alive = psutil.wait_procs(family, timeout=5)
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
    assert (tmp_path / "var" / "surgewatch.db").exists()
