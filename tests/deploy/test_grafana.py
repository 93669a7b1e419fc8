"""deploy/grafana: the provisioning files agree with each other and with the compose stack, and
the dashboard is a valid model whose every PromQL expression parses (promtool) and names only
DESIGN.md's metrics or our recording rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.support import (
    DASHBOARD,
    DEPLOY,
    DESIGN_SERIES,
    output,
    promql_metric_names,
    recording_rules,
    run,
    system_tool,
)

PROVISIONING = DEPLOY / "grafana" / "provisioning"
# Values to stand in for Grafana's variables when the expressions are parsed.
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
VARIABLE = re.compile(r"\$\{?(\w+)\}?")

# What a person opening the dashboard must find (DESIGN.md metrics, raw or through our rules).
REQUIRED_METRICS = {
    "surgewatch_province_incidents",
    "surgewatch_province_expected_incidents",
    "surgewatch_province_surge_score",
    "surgewatch_alerts_active",
    "surgewatch_ingest_events_total",
    "surgewatch_ingest_lag_messages",
    "surgewatch_http_request_duration_seconds_bucket",
    "surgewatch_http_requests_total",
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def targets(model: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels(model):
        for target in panel.get("targets", []):
            yield panel, target


def datasource_uid() -> str:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    (source,) = doc["datasources"]
    assert source["type"] == "prometheus"
    uid: str = source["uid"]
    return uid


def substitute(expr: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in variables, f"undefined dashboard variable ${name} in {expr!r}"
        return variables[name]

    return VARIABLE.sub(value, expr)


def variables(model: dict[str, Any]) -> dict[str, str]:
    """Dashboard variables with a representative value each (a regex where `All` is allowed)."""
    values = dict(BUILTIN_VARIABLES)
    for var in model["templating"]["list"]:
        if var["type"] == "custom":
            values[var["name"]] = var["query"].split(",")[0].strip()
        else:
            values[var["name"]] = var.get("allValue") or "PK-BA"
    return values


def test_dashboard_is_a_grafana_model() -> None:
    model = dashboard()
    assert model["uid"] and model["title"]
    assert 36 <= model["schemaVersion"] <= 41
    ids = [panel["id"] for panel in panels(model)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(model):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0 and grid["y"] >= 0, panel["title"]
        assert panel["type"] in {"row", "timeseries", "stat", "bargauge", "table", "gauge"}


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        for y in range(grid["y"], grid["y"] + grid["h"]):
            for x in range(grid["x"], grid["x"] + grid["w"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_query_uses_the_provisioned_datasource_by_uid() -> None:
    uid = datasource_uid()
    model = dashboard()
    for panel in panels(model):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
    for panel, target in targets(model):
        assert target["datasource"]["uid"] == uid, panel["title"]
        assert target["expr"].strip(), panel["title"]
    for var in model["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"]["uid"] == uid


def test_every_expression_parses_in_promtool(tmp_path: Path) -> None:
    """promtool has no offline `query`, but `check rules` parses each rule's PromQL."""
    model = dashboard()
    values = variables(model)
    rules = [
        {
            "record": f"dashboard:panel_{panel['id']}:{target['refId']}",
            "expr": substitute(target["expr"], values),
        }
        for panel, target in targets(model)
    ]
    assert len(rules) >= 10
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([system_tool("promtool"), "check", "rules", path])
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout, output(result)


def test_promtool_parse_check_catches_bad_promql(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    rule = {"record": "dashboard:bad", "expr": "sum by (le (rate(x[5m]))"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [rule]}]}))
    result = run([system_tool("promtool"), "check", "rules", path])
    assert result.returncode != 0, output(result)


def test_every_metric_is_a_design_metric_or_our_recording_rule() -> None:
    recorded = set(recording_rules())
    model = dashboard()
    for panel, target in targets(model):
        unknown = promql_metric_names(target["expr"]) - DESIGN_SERIES - recorded
        assert unknown == set(), f"{panel['title']}: unknown metrics {unknown}"
    for var in model["templating"]["list"]:
        if var["type"] == "query":
            used = re.findall(r"label_values\((\w+)", var["definition"])
            assert used and set(used) <= DESIGN_SERIES, var["name"]


def test_dashboard_shows_what_operators_need() -> None:
    recorded = recording_rules()
    used: set[str] = set()
    for _, target in targets(dashboard()):
        for name in promql_metric_names(target["expr"]):
            used.add(name)
            used |= promql_metric_names(recorded.get(name, ""))
    assert REQUIRED_METRICS - used == set()


def test_dashboard_provider_loads_the_mounted_directory() -> None:
    doc = yaml.safe_load((PROVISIONING / "dashboards" / "surgewatch.yaml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_datasource_points_at_the_compose_prometheus() -> None:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert doc["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
