"""One typed settings object for every service, read from `SURGEWATCH_*` variables.

The variables named in DESIGN.md are flat (`SURGEWATCH_KAFKA_BOOTSTRAP`); tuning knobs that are
ours alone live in nested groups (`SURGEWATCH_INGEST__BATCH_MAX`). A bad value stops start-up
with a `SettingsError` that names the variable.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

ENV_PREFIX = "SURGEWATCH_"
CORE_DIR = Path(__file__).resolve().parent
DEFAULT_RULES_FILE = CORE_DIR.parent / "alerts" / "rules.yaml"
DEFAULT_GAZETTEER_FILE = CORE_DIR / "data" / "gazetteer-pk.yaml"
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./var/surgewatch.db"

KeyList = Annotated[tuple[SecretStr, ...], NoDecode]
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's legal topic names


class Clock(StrEnum):
    live = "live"
    event_time = "event_time"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


class IngestTuning(BaseModel):
    """`SURGEWATCH_INGEST__*`: batching and retry of the ingest consumer."""

    group_id: str = "surgewatch-ingest"
    batch_max: int = Field(5000, ge=1, le=100_000)
    batch_timeout_ms: int = Field(200, ge=1, le=60_000)
    max_message_bytes: int = Field(65_536, ge=1024)
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    dlq_ratio_alarm: float = Field(0.5, gt=0, le=1)
    session_timeout_ms: int = Field(10_000, ge=500)
    heartbeat_interval_ms: int = Field(3_000, ge=100)


class AlertsTuning(BaseModel):
    """`SURGEWATCH_ALERTS__*`: grouping, debounce and clock tick of the alerts worker."""

    group_id: str = "surgewatch-alerts"
    debounce_ms: int = Field(500, ge=0, le=600_000)
    tick_s: float = Field(60.0, gt=0)
    session_timeout_ms: int = Field(10_000, ge=500)
    heartbeat_interval_ms: int = Field(3_000, ge=100)


class Settings(BaseSettings):
    """Everything a surgewatch process can be told. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str = DEFAULT_SQLITE_URL
    database_pool_size: int = Field(5, ge=1, le=200)

    kafka_bootstrap: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_request_timeout_ms: int = Field(30_000, ge=1000)

    topic_incidents: str = "incidents"
    topic_accepted: str = "incidents.accepted"
    topic_dlq: str = "incidents.dlq"
    topic_alerts: str = "alerts"
    topic_partitions: int = Field(3, ge=1, le=1000)

    clock: Clock = Clock.live
    rules_file: Path = DEFAULT_RULES_FILE
    gazetteer_file: Path = DEFAULT_GAZETTEER_FILE

    api_keys: KeyList = ()
    publisher_keys: KeyList = ()
    operator_keys: KeyList = ()

    metrics_port: int | None = Field(None, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    ingest: IngestTuning = IngestTuning()
    alerts: AlertsTuning = AlertsTuning()

    @field_validator("api_keys", "publisher_keys", "operator_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(SecretStr(k.strip()) for k in value.split(",") if k.strip())
        return value

    @field_validator("topic_incidents", "topic_accepted", "topic_dlq", "topic_alerts")
    @classmethod
    def _legal_topic(cls, value: str) -> str:
        if not _TOPIC_NAME.fullmatch(value) or value in (".", ".."):
            raise ValueError(f"not a Kafka topic name (1–249 of A-Z a-z 0-9 . _ -): {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]}://…)"
            )
        return value

    @field_validator("rules_file", "gazetteer_file")
    @classmethod
    def _file_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a pydantic error location."""
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise `SettingsError` naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{env_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"bad configuration: {problems}") from None
    except SourceError as exc:  # a whole group given as one variable that is not JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        name = env_name((field.group(1),)) if field else f"{ENV_PREFIX}*"
        raise SettingsError(f"bad configuration: {name}: {exc}") from None
