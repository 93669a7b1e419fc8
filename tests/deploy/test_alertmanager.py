"""deploy/alertmanager: amtool accepts the config and routes surgewatch's alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, output, run, system_tool

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def test_config_passes_amtool_check() -> None:
    result = run([system_tool("amtool"), "check-config", CONFIG])
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text().replace('receiver: "null"', 'receiver: "nowhere"', 1))
    result = run([system_tool("amtool"), "check-config", broken])
    assert result.returncode != 0, output(result)
    assert "nowhere" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "labels",
    [
        ["alertname=ProvinceSurgeFiring", "province=PK-BA", "severity=critical"],
        ["alertname=SurgewatchServiceDown", "service=api", "severity=critical"],
        ["alertname=IngestLagGrowing", "topic=incidents", "severity=warning"],
    ],
)
def test_every_alert_reaches_a_receiver(labels: list[str]) -> None:
    result = run(
        [system_tool("amtool"), "config", "routes", "test", f"--config.file={CONFIG}", *labels]
    )
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == "null", output(result)
