"""deploy/compose.yaml: docker-compose accepts it, refuses to start without each secret, and the
stack is wired the way DESIGN.md and the other deploy files expect."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli import build_parser
from services.core.settings import Settings
from tests.deploy.support import (
    DEPLOY,
    REPO,
    compose_binary,
    output,
    run,
    settings_env_names,
)

COMPOSE = DEPLOY / "compose.yaml"
SECRETS = {
    "POSTGRES_PASSWORD": "dummy-pg-password",
    "GRAFANA_ADMIN_PASSWORD": "dummy-grafana-password",
    "SURGEWATCH_OPERATOR_KEYS": "dummy-operator-key",
    "SURGEWATCH_PUBLISHER_KEYS": "dummy-publisher-key",
}
SERVICES = {"ingest", "alerts", "api"}


def compose(*args: str, env: dict[str, str]) -> Any:
    """docker-compose on deploy/compose.yaml with exactly `env` (no .env file, no inherited
    variables), so a secret the test leaves out is really missing."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return run(
        [compose_binary(), "--env-file", os.devnull, "-f", COMPOSE, *args], env={**base, **env}
    )


@cache
def config() -> dict[str, Any]:
    result = compose("config", "--format", "json", env=SECRETS)
    assert result.returncode == 0, output(result)
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_config_is_valid_with_the_secrets_set() -> None:
    result = compose("config", "-q", env=SECRETS)
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_config_fails_without_each_secret(missing: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != missing}
    result = compose("config", "-q", env=env)
    assert result.returncode != 0, output(result)
    assert missing in result.stderr, output(result)


def test_stack_has_every_component() -> None:
    assert set(config()["services"]) == {
        "kafka", "kafka-init", "postgres", "migrate", "ingest", "alerts", "api",
        "prometheus", "alertmanager", "grafana",
    }  # fmt: skip


def test_services_wait_for_their_dependencies() -> None:
    services = config()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in SERVICES:
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == {
            "postgres": "service_healthy",
            "kafka": "service_healthy",
            "kafka-init": "service_completed_successfully",
            "migrate": "service_completed_successfully",
        }, name


def test_every_long_running_service_has_a_healthcheck() -> None:
    one_shot = {"migrate", "kafka-init"}
    for name, service in config()["services"].items():
        if name in one_shot:
            assert service.get("restart") == "no", name
            continue
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test") and not healthcheck.get("disable"), name


def test_commands_are_real_surgewatch_commands() -> None:
    services = config()["services"]
    parser = build_parser()
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["api"]["command"] == ["api", "--host", "0.0.0.0", "--port", "8000"]
    for name in (*SERVICES, "migrate"):
        args = parser.parse_args(services[name]["command"])
        assert args.command in {"ingest", "alerts", "api", "db"}


def test_surgewatch_images_are_built_from_the_repository_root() -> None:
    services = config()["services"]
    for name in (*SERVICES, "migrate"):
        build = services[name]["build"]
        assert Path(build["context"]) == REPO, name
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert services[name]["read_only"] is True, name
        assert services[name]["cap_drop"] == ["ALL"], name
    assert (REPO / ".dockerignore").is_file()


def test_secrets_come_from_the_environment() -> None:
    services = config()["services"]
    api = services["api"]["environment"]
    assert api["SURGEWATCH_OPERATOR_KEYS"] == SECRETS["SURGEWATCH_OPERATOR_KEYS"]
    assert api["SURGEWATCH_PUBLISHER_KEYS"] == SECRETS["SURGEWATCH_PUBLISHER_KEYS"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert (
        services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
        == SECRETS["GRAFANA_ADMIN_PASSWORD"]
    )
    for name in (*SERVICES, "migrate"):
        url = services[name]["environment"]["SURGEWATCH_DATABASE_URL"]
        assert url == (
            f"postgresql+asyncpg://surgewatch:{SECRETS['POSTGRES_PASSWORD']}"
            "@postgres:5432/surgewatch"
        )
        assert services[name]["environment"]["SURGEWATCH_KAFKA_BOOTSTRAP"] == "kafka:9092"
    raw = COMPOSE.read_text()
    assert all(value not in raw for value in SECRETS.values())


def test_every_surgewatch_variable_is_a_setting() -> None:
    known = settings_env_names()
    for name, service in config()["services"].items():
        used = {k for k in service.get("environment", {}) if k.startswith("SURGEWATCH_")}
        assert used <= known, f"{name}: unknown settings {used - known}"


def test_prometheus_targets_match_the_services_ports() -> None:
    services = config()["services"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    ports = {
        job["job_name"].removeprefix("surgewatch-"): job["static_configs"][0]["targets"][0]
        for job in prometheus["scrape_configs"]
        if job["job_name"].startswith("surgewatch-")
    }
    assert (
        ports["ingest"] == f"ingest:{services['ingest']['environment']['SURGEWATCH_METRICS_PORT']}"
    )
    assert (
        ports["alerts"] == f"alerts:{services['alerts']['environment']['SURGEWATCH_METRICS_PORT']}"
    )
    assert ports["api"] == f"api:{services['api']['command'][-1]}"


def test_topics_created_are_the_default_topics() -> None:
    script = " ".join(config()["services"]["kafka-init"]["command"])
    match = re.search(r"for topic in ([^;]+);", script)
    assert match, script
    defaults = Settings.model_fields
    fields = ("topic_incidents", "topic_accepted", "topic_dlq", "topic_alerts")
    assert match.group(1).split() == [defaults[field].default for field in fields]


def test_bind_mounts_exist_in_the_repository() -> None:
    for name, service in config()["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']}"
                assert volume.get("read_only") is True, f"{name}: {volume['source']}"
