"""End to end: a real Prometheus scrapes the running services and evaluates the shipped rules.

The stack, as a deployment runs it: the embedded broker, a fresh PostgreSQL database migrated by
`surgewatch db upgrade`, then `surgewatch ingest`, `surgewatch alerts` (event-time clock) and
`surgewatch api` as processes on free loopback ports, and Debian's `prometheus` with a config
derived from deploy/prometheus/prometheus.yml (same job names and rule files; 1 s scrape and
evaluation intervals; no Alertmanager). `surgewatch replay --demo` publishes the demo feed
(2022–2024), then `surgewatch replay` publishes a burst of bombings in Balochistan over the
feed's last week, so a surge is firing at the final event-time day.

The rules Prometheus loads are copies of the shipped ones with every `for:` rewritten to `0s`
(textual substitution; the shipped 1m–10m would outlast the test): ProvinceSurgeFiring fires as
soon as surgewatch_alerts_active is scraped above zero, and SurgewatchServiceDown would fire at
once for a job whose target is down or missing (e.g. a renamed job).

Expected values come from the database, by the alerts service's definitions: the event-time
as_of is the newest day in daily_counts, a province's 28-day (7-day) incidents are its
daily_counts over the 28 (7) days ending at as_of, and surgewatch_alerts_active is the number of
its firing alerts by severity.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import psutil
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.broker import free_port, start_broker
from services.core.db import make_engine
from services.core.gazetteer import load_gazetteer
from services.core.kafka import ensure_topics
from services.core.models import AlertRow, DailyCountRow, IncidentRow
from services.core.settings import load_settings
from services.feeds import demo
from tests.deploy.stack import (
    SERVICE_JOBS,
    PrometheusAPI,
    Stack,
    clean_environ,
    converge,
    copy_rules,
    surgewatch,
    wait_http_ok,
    write_prometheus_config,
)
from tests.deploy.support import RULE_FILES, system_tool
from tests.support.databases import create_pg_database, drop_pg_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO_SEED = 2024  # `surgewatch replay --demo`'s default seed
BURST = 30  # bombings in Balochistan over the demo's last 7 days
BURST_PROVINCE = "PK-BA"
GAZETTEER = load_gazetteer()
PROVINCES = GAZETTEER.codes
WINDOWS = {"7d": 7, "28d": 28}


def demo_reports() -> tuple[set[str], date]:
    """The demo feed's distinct incident ids and its last local day."""
    events = list(demo.generate(DEMO_SEED))
    ids = {e["data"]["id"] for e in events if e["type"] == "incident.reported"}
    last = max(
        datetime.fromisoformat(e["data"]["occurred_at"]).astimezone(GAZETTEER.timezone).date()
        for e in events
        if "occurred_at" in e["data"]
    )
    return ids, last


def write_burst(path: Path, last_day: date) -> set[str]:
    """Our JSON lines (bare `data` objects): BURST bombings spread over the 7 days ending at
    `last_day`, at noon local time; returns their ids."""
    ids = set()
    with path.open("wb") as out:
        for n in range(BURST):
            day = last_day - timedelta(days=n % 7)
            at = datetime(day.year, day.month, day.day, 12, n, tzinfo=GAZETTEER.timezone)
            incident_id = f"e2e-burst-{n:02d}"
            ids.add(incident_id)
            data = {
                "id": incident_id,
                "occurred_at": at.isoformat(),
                "province": "Balochistan",
                "district": "Quetta",
                "category": "bombing",
                "target": "security_forces",
                "killed": 1,
                "injured": 2,
            }
            out.write(orjson.dumps(data) + b"\n")
    return ids


# --- the database's view (the expected values) ---------------------------------------------------


async def db_as_of(engine: AsyncEngine) -> date:
    async with engine.connect() as conn:
        newest: date | None = (await conn.execute(select(func.max(DailyCountRow.day)))).scalar_one()
    assert newest is not None, "no daily counts stored"
    return newest


async def db_window_incidents(engine: AsyncEngine, days: int) -> dict[str, int]:
    """Incidents per province over the `days` days ending at the event-time as_of."""
    as_of = await db_as_of(engine)
    d = DailyCountRow
    query = (
        select(d.province, func.sum(d.incidents))
        .where(d.day > as_of - timedelta(days=days), d.day <= as_of)
        .group_by(d.province)
    )
    async with engine.connect() as conn:
        found = {province: int(n or 0) for province, n in await conn.execute(query)}
    return {province: found.get(province, 0) for province in PROVINCES}


async def db_firing(engine: AsyncEngine) -> dict[tuple[str, str], int]:
    """Firing alerts by (province, severity)."""
    a = AlertRow
    query = (
        select(a.province, a.severity, func.count())
        .where(a.state == "firing")
        .group_by(a.province, a.severity)
    )
    async with engine.connect() as conn:
        return {(p, s): int(n) for p, s, n in await conn.execute(query)}


async def db_incidents(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(IncidentRow))).scalar_one()
    return int(count)


# --- the test ------------------------------------------------------------------------------------


def service_env(bootstrap: str, database_url: str) -> dict[str, str]:
    return {
        **clean_environ(),
        "SURGEWATCH_KAFKA_BOOTSTRAP": bootstrap,
        "SURGEWATCH_DATABASE_URL": database_url,
        "SURGEWATCH_CLOCK": "event_time",
        "SURGEWATCH_LOG_FORMAT": "json",
        "SURGEWATCH_INGEST__SESSION_TIMEOUT_MS": "1000",
        "SURGEWATCH_INGEST__HEARTBEAT_INTERVAL_MS": "200",
        "SURGEWATCH_ALERTS__SESSION_TIMEOUT_MS": "1000",
        "SURGEWATCH_ALERTS__HEARTBEAT_INTERVAL_MS": "200",
    }


async def start_stack(stack: Stack, env: dict[str, str], folder: Path) -> dict[str, str]:
    """ingest, alerts, api and Prometheus on free loopback ports; returns name → host:port."""
    ports = {name: free_port() for name in SERVICE_JOBS}
    commands = {
        "ingest": ["ingest"],
        "alerts": ["alerts"],
        "api": ["api", "--host", "127.0.0.1", "--port", str(ports["api"])],
    }
    for name, argv in commands.items():
        service_env = {**env, "SURGEWATCH_METRICS_PORT": str(ports[name])}
        await stack.start(name, [*surgewatch(), *argv], service_env)
    addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    addresses["prometheus"] = f"127.0.0.1:{free_port()}"
    config_dir = folder / "prometheus"
    config_dir.mkdir()
    substituted = copy_rules(config_dir, for_="0s")
    assert substituted["surgewatch-alerts.yml"] > 0, substituted
    services = {name: addresses[name] for name in SERVICE_JOBS}
    config = write_prometheus_config(config_dir, services, addresses["prometheus"])
    prometheus = [
        str(system_tool("prometheus")),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address={addresses['prometheus']}",
        "--log.level=warn",
    ]
    await stack.start("prometheus", prometheus, clean_environ())
    async with httpx.AsyncClient(timeout=5) as http:
        ready = {
            "ingest": f"http://{addresses['ingest']}/healthz",
            "alerts": f"http://{addresses['alerts']}/healthz",
            "api": f"http://{addresses['api']}/readyz",
            "prometheus": f"http://{addresses['prometheus']}/-/ready",
        }
        for name, url in ready.items():
            await wait_http_ok(http, url, stack, within=30, what=name)
    stack.note_descendants()
    return addresses


async def test_prometheus_scrapes_the_stack_and_fires_the_surge_alert(tmp_path: Path) -> None:
    started = time.monotonic()
    marks: dict[str, float] = {}
    stack = Stack(tmp_path)
    codes: dict[str, int] = {}

    async def stop_stack() -> None:
        codes.update(await stack.stop())

    async with contextlib.AsyncExitStack() as cleanup:  # undone in reverse order
        database_url = await create_pg_database("surgewatch_e2e")
        cleanup.push_async_callback(drop_pg_database, database_url)
        broker = cleanup.enter_context(start_broker(log_file=tmp_path / "broker.log"))
        stack.family.append(psutil.Process(broker.process.pid))
        engine = make_engine(load_settings(database_url=database_url), writer=False)
        cleanup.push_async_callback(engine.dispose)
        cleanup.push_async_callback(stop_stack)

        env = service_env(broker.bootstrap, database_url)
        assert await stack.run("db-upgrade", [*surgewatch(), "db", "upgrade"], env) == 0
        await ensure_topics(load_settings(kafka_bootstrap=broker.bootstrap))
        addresses = await start_stack(stack, env, tmp_path)
        marks["ready"] = time.monotonic() - started

        demo_ids, last_day = demo_reports()
        burst_file = tmp_path / "burst.jsonl"
        burst_ids = write_burst(burst_file, last_day)
        replay_burst = [*surgewatch(), "replay", str(burst_file), "--format", "jsonl"]
        replays = await asyncio.gather(
            stack.run("replay-demo", [*surgewatch(), "replay", "--demo"], env),
            stack.run("replay-burst", replay_burst, env),
        )
        assert replays == [0, 0], "see replay-demo.log and replay-burst.log"
        marks["published"] = time.monotonic() - started

        async with httpx.AsyncClient(base_url=f"http://{addresses['prometheus']}") as http:
            figures = await check_prometheus(
                PrometheusAPI(http), stack, engine, demo_ids | burst_ids, last_day, marks, started
            )
    marks["stopped"] = time.monotonic() - started
    print("\ne2e figures:", figures)
    print("e2e timings (s from start):", {k: round(v, 1) for k, v in marks.items()})
    assert codes == {"ingest": 0, "alerts": 0, "api": 0, "prometheus": 0}, codes
    assert stack.left_behind() == []


async def check_prometheus(
    prom: PrometheusAPI,
    stack: Stack,
    engine: AsyncEngine,
    published_ids: set[str],
    last_day: date,
    marks: dict[str, float],
    started: float,
) -> dict[str, object]:
    """Assert what Prometheus shows against the DB; returns the figures seen."""

    def elapsed() -> float:
        return time.monotonic() - started

    # Every published incident is stored once and counted once as accepted (at its first
    # version; corrections count as updated). The demo retracts one incident after its report,
    # which leaves its accepted count alone, and reports nothing after a retraction.
    accepted_expr = 'sum(surgewatch_ingest_events_total{result="accepted"})'

    async def accepted() -> float | None:
        stack.check_alive()
        return (await prom.values(accepted_expr)).get(())

    async def published() -> float | None:
        return float(len(published_ids))

    await converge(accepted, published, 40, accepted_expr)
    assert await db_incidents(engine) == len(published_ids)
    marks["ingested"] = elapsed()

    # Event time: the clock's day is the newest event day (the feed's last; the burst ends there).
    as_of = await db_as_of(engine)
    assert as_of == last_day
    as_of_ts = float(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC).timestamp())
    as_of_expr = "surgewatch_alerts_as_of_timestamp_seconds"

    async def clock() -> float | None:
        return (await prom.values(as_of_expr)).get(())

    async def clock_expected() -> float | None:
        return as_of_ts

    await converge(clock, clock_expected, 30, as_of_expr)

    # The picture gauges: per province and window, exactly the DB's counts at as_of.
    for window, days in WINDOWS.items():
        expr = f'surgewatch_province_incidents{{window="{window}"}}'

        async def gauges(expr: str = expr) -> dict[str, float]:
            stack.check_alive()
            return {k[0]: v for k, v in (await prom.values(expr, "province")).items()}

        async def counted(days: int = days) -> dict[str, float]:
            return {p: float(n) for p, n in (await db_window_incidents(engine, days)).items()}

        await converge(gauges, counted, 60, expr)
        recorded = f"surgewatch:province_incidents_{window}:max"  # the recording rule, too

        async def recorded_gauges(expr: str = recorded) -> dict[str, float]:
            return {k[0]: v for k, v in (await prom.values(expr, "province")).items()}

        await converge(recorded_gauges, counted, 10, recorded)
    assert (await db_window_incidents(engine, 7))[BURST_PROVINCE] >= BURST
    marks["picture"] = elapsed()

    # surgewatch_alerts_active and the ProvinceSurgeFiring alert follow the DB's firing alerts.
    async def surge_alerts() -> dict[tuple[str, str], int]:
        stack.check_alive()
        return {
            (a["labels"]["province"], a["labels"]["severity"]): int(float(a["value"]))
            for a in await prom.alerts()
            if a["labels"]["alertname"] == "ProvinceSurgeFiring" and a["state"] == "firing"
        }

    async def firing_in_db() -> dict[tuple[str, str], int]:
        return await db_firing(engine)

    firing = await converge(surge_alerts, firing_in_db, 30, "ProvinceSurgeFiring firing")
    assert any(province == BURST_PROVINCE for province, _ in firing), firing
    active = await prom.values(
        "sum by (province, severity) (surgewatch_alerts_active) > 0", "province", "severity"
    )
    assert {k: int(v) for k, v in active.items()} == firing
    marks["alert_firing"] = elapsed()

    # Every job is up under the names the rules expect, so no SurgewatchServiceDown is active.
    async def up() -> dict[tuple[str, ...], float]:
        return await prom.values('up{job=~"surgewatch-.*"}', "job")

    async def all_up() -> dict[tuple[str, ...], float]:
        return {(job,): 1.0 for job in SERVICE_JOBS.values()}

    await converge(up, all_up, 10, "up")

    async def down() -> list[str]:
        alerts = await prom.alerts()
        return [
            str(a["labels"]) for a in alerts if a["labels"]["alertname"] == "SurgewatchServiceDown"
        ]

    async def none() -> list[str]:
        return []

    await converge(down, none, 10, "SurgewatchServiceDown alerts")

    # Every shipped rule evaluated against the real series without an error.
    rules = [rule for group in await prom.rule_groups() for rule in group["rules"]]
    shipped = [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    assert len(rules) == len(shipped)
    unhealthy = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert unhealthy == {}
    return {
        "accepted": len(published_ids),
        "as_of": as_of.isoformat(),
        "incidents_28d": await db_window_incidents(engine, 28),
        "firing": firing,
        "rules_ok": len(rules),
    }
