"""Settings (DESIGN.md "Configuration"): every variable is read; a bad one is named."""

from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.core.settings import (
    DEFAULT_RULES_FILE,
    ENV_PREFIX,
    Clock,
    SettingsError,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SURGEWATCH_* variable from the calling shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def plain(value: Any) -> Any:
    """A setting with its secrets revealed, to compare with what was set."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def test_defaults_are_the_ones_design_md_promises() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite+aiosqlite:///./var/surgewatch.db"
    assert settings.kafka_bootstrap is None
    assert settings.kafka_security_protocol == "PLAINTEXT"
    topics = (settings.topic_incidents, settings.topic_accepted)
    assert (*topics, settings.topic_dlq, settings.topic_alerts) == (
        "incidents",
        "incidents.accepted",
        "incidents.dlq",
        "alerts",
    )
    assert settings.clock is Clock.live
    assert settings.rules_file == DEFAULT_RULES_FILE and DEFAULT_RULES_FILE.is_file()
    assert settings.api_keys == settings.publisher_keys == settings.operator_keys == ()
    assert settings.metrics_port is None  # each worker then uses its own default port


RULES = Path(__file__)  # any existing file will do for "the path is read"


READS = [
    (
        "SURGEWATCH_DATABASE_URL",
        "postgresql+asyncpg://sw@db/sw",
        "database_url",
        "postgresql+asyncpg://sw@db/sw",
    ),
    ("SURGEWATCH_DATABASE_URL", "sqlite+aiosqlite:////data/sw.db", "is_sqlite", True),
    ("SURGEWATCH_KAFKA_BOOTSTRAP", "k1:9092,k2:9092", "kafka_bootstrap", "k1:9092,k2:9092"),
    ("SURGEWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", "kafka_security_protocol", "SASL_SSL"),
    ("SURGEWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "kafka_sasl_mechanism", "SCRAM-SHA-512"),
    ("SURGEWATCH_KAFKA_SASL_USERNAME", "svc-surgewatch", "kafka_sasl_username", "svc-surgewatch"),
    ("SURGEWATCH_KAFKA_SASL_PASSWORD", "s3cret", "kafka_sasl_password", "s3cret"),
    ("SURGEWATCH_TOPIC_INCIDENTS", "pk.incidents", "topic_incidents", "pk.incidents"),
    (
        "SURGEWATCH_TOPIC_ACCEPTED",
        "pk.incidents.accepted",
        "topic_accepted",
        "pk.incidents.accepted",
    ),
    ("SURGEWATCH_TOPIC_DLQ", "pk.incidents.dlq", "topic_dlq", "pk.incidents.dlq"),
    ("SURGEWATCH_TOPIC_ALERTS", "pk_alerts-v2", "topic_alerts", "pk_alerts-v2"),
    ("SURGEWATCH_CLOCK", "event_time", "clock", Clock.event_time),
    ("SURGEWATCH_RULES_FILE", str(RULES), "rules_file", RULES),
    ("SURGEWATCH_API_KEYS", "k1, k2,,k3 ", "api_keys", ("k1", "k2", "k3")),
    ("SURGEWATCH_API_KEYS", "only", "api_keys", ("only",)),
    ("SURGEWATCH_API_KEYS", "", "api_keys", ()),
    ("SURGEWATCH_PUBLISHER_KEYS", "pub-1,pub-2", "publisher_keys", ("pub-1", "pub-2")),
    ("SURGEWATCH_OPERATOR_KEYS", "op-1", "operator_keys", ("op-1",)),
    ("SURGEWATCH_METRICS_PORT", "9200", "metrics_port", 9200),
    ("SURGEWATCH_INGEST__BATCH_MAX", "250", "ingest.batch_max", 250),
    ("SURGEWATCH_ALERTS__DEBOUNCE_MS", "0", "alerts.debounce_ms", 0),
    ("surgewatch_clock", "event_time", "clock", Clock.event_time),
    ("SURGEWATCH_INGEST", '{"batch_max": 7}', "ingest.batch_max", 7),
]


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    READS,
    ids=[f"{variable}={value[-24:]}" for variable, value, _, _ in READS],
)
def test_every_variable_is_read(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, attribute: str, expected: Any
) -> None:
    monkeypatch.setenv(variable, value)
    assert plain(attrgetter(attribute)(load_settings())) == expected


def test_keys_never_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURGEWATCH_OPERATOR_KEYS", "op-secret-1")
    monkeypatch.setenv("SURGEWATCH_KAFKA_SASL_PASSWORD", "sasl-secret-2")
    shown = repr(load_settings())
    assert "op-secret-1" not in shown and "sasl-secret-2" not in shown


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURGEWATCH_CLOCK", "event_time")
    monkeypatch.setenv("SURGEWATCH_TOPIC_DLQ", "from-env")
    settings = load_settings(clock="live")
    assert (settings.clock, settings.topic_dlq) == (Clock.live, "from-env")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SURGEWATCH_DATABASE_URL", "mysql://db/sw"),
        ("SURGEWATCH_DATABASE_URL", "sqlite:///sync-driver.db"),
        ("SURGEWATCH_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("SURGEWATCH_KAFKA_SASL_MECHANISM", "GSSAPI-ish"),
        ("SURGEWATCH_TOPIC_INCIDENTS", ""),
        ("SURGEWATCH_TOPIC_ACCEPTED", "incidents accepted"),
        ("SURGEWATCH_TOPIC_DLQ", "dlq/1"),
        ("SURGEWATCH_TOPIC_ALERTS", ".."),
        ("SURGEWATCH_TOPIC_ALERTS", "a" * 250),
        ("SURGEWATCH_CLOCK", "wall"),
        ("SURGEWATCH_CLOCK", ""),
        ("SURGEWATCH_RULES_FILE", "/nonexistent/rules.yaml"),
        ("SURGEWATCH_RULES_FILE", "/"),
        ("SURGEWATCH_METRICS_PORT", "nine-one-oh-one"),
        ("SURGEWATCH_METRICS_PORT", "70000"),
        ("SURGEWATCH_METRICS_PORT", "-1"),
        ("SURGEWATCH_INGEST__BATCH_MAX", "0"),
        ("SURGEWATCH_INGEST__BATCH_MAX", "lots"),
        ("SURGEWATCH_INGEST__BATCH_MAX", "100001"),
        ("SURGEWATCH_ALERTS__DEBOUNCE_MS", "-1"),
        ("SURGEWATCH_INGEST", "batch_max=7"),
        ("SURGEWATCH_ALERTS", "{not json"),
    ],
    ids=lambda v: v if v.startswith(ENV_PREFIX) else repr(v)[:20],
)
def test_a_bad_value_raises_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert variable in str(raised.value)


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURGEWATCH_CLOCK", "wall")
    monkeypatch.setenv("SURGEWATCH_METRICS_PORT", "x")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "SURGEWATCH_CLOCK" in str(raised.value)
    assert "SURGEWATCH_METRICS_PORT" in str(raised.value)
