"""deploy/prometheus: the config and rules load in promtool, the rules' unit tests pass and cover
every rule, and the rules use only DESIGN.md's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import (
    DEPLOY,
    DESIGN_SERIES,
    RULE_FILES,
    RULES,
    output,
    promql_metric_names,
    recording_rules,
    run,
    system_tool,
)

RULE_TESTS = sorted((RULES / "tests").glob("*.yml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alerting_rules() -> list[dict[str, Any]]:
    doc = load(RULES / "surgewatch-alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_passes_promtool_check(rules: Path) -> None:
    result = run([system_tool("promtool"), "check", "rules", rules])
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool tests in deploy/prometheus/rules/tests"
    result = run([system_tool("promtool"), "test", "rules", *RULE_TESTS])
    assert result.returncode == 0, output(result)
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), output(result)


def test_promtool_test_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests are not vacuous: expecting silence where the rule fires fails."""
    doc = load(RULES / "tests" / "surgewatch-alerts.test.yml")
    doc["rule_files"] = [str(RULES / "surgewatch-alerts.yml")]
    first_firing = next(
        case for test in doc["tests"] for case in test["alert_rule_test"] if case["exp_alerts"]
    )
    first_firing["exp_alerts"] = []
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(doc))
    result = run([system_tool("promtool"), "test", "rules", broken])
    assert result.returncode != 0, output(result)
    assert "FAILED" in result.stdout + result.stderr


def test_every_alerting_rule_is_tested_firing_and_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown staying quiet"


def test_every_recording_rule_is_tested() -> None:
    tested = {
        case["expr"].strip()
        for path in RULE_TESTS
        for test in load(path)["tests"]
        for case in test.get("promql_expr_test", [])
    }
    assert set(recording_rules()) - tested == set()


def test_every_service_down_job_is_tested() -> None:
    """SurgewatchServiceDown has one rule per job; each must be seen firing."""
    jobs = {
        rule["labels"]["service"]
        for rule in alerting_rules()
        if rule["alert"] == "SurgewatchServiceDown"
    }
    assert jobs == {"ingest", "alerts", "api"}
    seen = {
        alert["exp_labels"]["service"]
        for path in RULE_TESTS
        for test in load(path)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == "SurgewatchServiceDown"
        for alert in case["exp_alerts"]
    }
    assert seen == jobs


def test_alerting_rules_carry_severity_and_annotations() -> None:
    for rule in alerting_rules():
        assert rule["labels"].get("severity"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_rules_use_only_design_metrics_and_own_recordings() -> None:
    recorded = set(recording_rules())
    for path in RULE_FILES:
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                unknown = promql_metric_names(rule["expr"]) - DESIGN_SERIES - recorded
                name = rule.get("record") or rule.get("alert")
                assert unknown == set(), f"{path.name}: {name} uses unknown metrics {unknown}"


def test_recording_rule_names_follow_the_convention() -> None:
    for name in recording_rules():
        level, metric, operations = name.split(":")
        assert level == "surgewatch" and metric and operations, name


def test_config_passes_promtool_check_from_any_directory(tmp_path: Path) -> None:
    """rule_files are relative to the config file, so they resolve wherever promtool runs."""
    config = DEPLOY / "prometheus" / "prometheus.yml"
    result = run([system_tool("promtool"), "check", "config", config], cwd=tmp_path)
    assert result.returncode == 0, output(result)
    assert "2 rule files found" in result.stdout, output(result)


def test_config_scrapes_the_three_services_and_loads_both_rule_files() -> None:
    config = load(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {
        name: [t for sc in jobs[name]["static_configs"] for t in sc["targets"]]
        for name in ("surgewatch-ingest", "surgewatch-alerts", "surgewatch-api")
    }
    assert targets == {
        "surgewatch-ingest": ["ingest:9101"],
        "surgewatch-alerts": ["alerts:9102"],
        "surgewatch-api": ["api:8000"],
    }
    assert sorted(config["rule_files"]) == sorted(f"rules/{p.name}" for p in RULE_FILES)
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up == 0", {"up"}),
        ('sum by (le, route) (rate(x_bucket{route!="/v1/stream"}[5m]))', {"x_bucket"}),
        ("histogram_quantile(0.99, a) > 1e3 and deriv(b[10m]) > 0", {"a", "b"}),
        ("a:b:c / on (province) group_left (severity) d offset 5m", {"a:b:c", "d"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
    ],
)
def test_promql_metric_names(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names
