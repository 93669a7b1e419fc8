"""What the benchmarks share: machine facts, a broker, a fresh database, timing, events, output.

Every benchmark prints its figures for people and ends with ONE line of JSON (`emit`), which
`python -m bench` collects. Baselines are always measured in the same run as the thing they
judge: this machine is shared and noisy, so only ratios travel.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from services.core.broker import EmbeddedBroker, free_port, start_broker
from services.core.events import Category
from services.core.kafka import ensure_topics, make_producer
from services.core.migrate import upgrade_async
from services.core.settings import Settings, load_settings

PG_ADMIN_URL = os.environ.get(
    "SURGEWATCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SOURCE = "bench/synthetic"
ROOT = Path(__file__).resolve().parent.parent

# --- machine ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, PostgreSQL version, load average: the facts a figure needs."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "pg": _pg_version(),
        "python": platform.python_version(),
        "load": load(),
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _pg_version() -> str:
    try:
        out = subprocess.run(
            ["psql", PG_ADMIN_URL, "-qAtc", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def header(name: str, **params: Any) -> dict[str, Any]:
    """Print what runs, where, and how loaded the machine is; return the machine facts."""
    facts = machine()
    print(f"== {name} {' '.join(f'{k}={v}' for k, v in params.items())}")
    print(
        f"   machine: {facts['nproc']} cpu ({facts['cpu']}), {facts['mem_gib']} GiB, "
        f"PostgreSQL {facts['pg']}, Python {facts['python']}, load {facts['load']}"
    )
    return facts


def emit(name: str, facts: dict[str, Any], **figures: Any) -> None:
    """The last line of every benchmark: one JSON object (figures, targets, machine, load)."""
    line = {
        "bench": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **figures,
        "machine": {**facts, "load_end": load()},
    }
    sys.stdout.flush()
    print(orjson.dumps(line).decode(), flush=True)


# --- timing ----------------------------------------------------------------------------------


@dataclass
class Timer:
    """`with Timer() as t: …` then `t.seconds` (perf_counter wall time)."""

    started: float = 0.0
    seconds: float = 0.0

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.started


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# --- services --------------------------------------------------------------------------------


@contextmanager
def broker() -> Iterator[EmbeddedBroker]:
    """A private Tansu broker (memory only) on a free port, its log in a temp file."""
    log = Path(tempfile.gettempdir()) / f"surgewatch-bench-tansu-{os.getpid()}.log"
    with start_broker(log_file=log) as running:
        yield running


@asynccontextmanager
async def fresh_database(prefix: str = "surgewatch_bench") -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database (SQLAlchemy URL); dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}") from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await upgrade_async(url)
        yield url
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def raw_url(url: str) -> str:
    """The asyncpg DSN behind a SQLAlchemy URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def bench_settings(bootstrap: str, database_url: str, **overrides: Any) -> Settings:
    """Settings on this broker and database with topics and groups of their own.

    `ingest`/`alerts` overrides merge into the defaults. With SURGEWATCH_BENCH_FAST_JOIN=1 (the
    smoke tests) consumer groups use a 1 s session: Tansu answers a JoinGroup after half the
    session timeout, so a start costs 0.5 s instead of 5 s.
    """
    prefix = f"b{uuid.uuid4().hex[:8]}"
    group: dict[str, Any] = {}
    if os.environ.get("SURGEWATCH_BENCH_FAST_JOIN") == "1":
        group = {"session_timeout_ms": 1000, "heartbeat_interval_ms": 200}
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "database_url": database_url,
        "topic_incidents": f"{prefix}.incidents",
        "topic_accepted": f"{prefix}.incidents.accepted",
        "topic_dlq": f"{prefix}.incidents.dlq",
        "topic_alerts": f"{prefix}.alerts",
        "ingest": {"group_id": f"{prefix}-ingest", **group},
        "alerts": {"group_id": f"{prefix}-alerts", **group},
        "log_level": "WARNING",
    }
    for name in ("ingest", "alerts"):
        values[name].update(overrides.pop(name, {}))
    values.update(overrides)
    return load_settings(**values)


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a `surgewatch` subprocess these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURGEWATCH_")}
    env.update(
        {
            "SURGEWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
            "SURGEWATCH_DATABASE_URL": settings.database_url,
            "SURGEWATCH_TOPIC_INCIDENTS": settings.topic_incidents,
            "SURGEWATCH_TOPIC_ACCEPTED": settings.topic_accepted,
            "SURGEWATCH_TOPIC_DLQ": settings.topic_dlq,
            "SURGEWATCH_TOPIC_ALERTS": settings.topic_alerts,
            "SURGEWATCH_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "SURGEWATCH_INGEST__GROUP_ID": settings.ingest.group_id,
            "SURGEWATCH_INGEST__BATCH_MAX": str(settings.ingest.batch_max),
            "SURGEWATCH_INGEST__SESSION_TIMEOUT_MS": str(settings.ingest.session_timeout_ms),
            "SURGEWATCH_INGEST__HEARTBEAT_INTERVAL_MS": str(settings.ingest.heartbeat_interval_ms),
            "SURGEWATCH_ALERTS__GROUP_ID": settings.alerts.group_id,
            "SURGEWATCH_ALERTS__SESSION_TIMEOUT_MS": str(settings.alerts.session_timeout_ms),
            "SURGEWATCH_ALERTS__HEARTBEAT_INTERVAL_MS": str(settings.alerts.heartbeat_interval_ms),
            "SURGEWATCH_CLOCK": settings.clock.value,
            "SURGEWATCH_LOG_LEVEL": settings.log_level,
            "SURGEWATCH_METRICS_PORT": "0",
        }
    )
    env.update(extra)
    return env


def surgewatch_command(*args: str) -> list[str]:
    """`surgewatch …` run with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "services.cli", *args]


@dataclass
class Service:
    """A `surgewatch <command>` subprocess, its port (api: HTTP, workers: ops) and its log."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def start_service(settings: Settings, command: str, **env: str) -> Service:
    """Spawn `surgewatch <command>` on these settings (api on 127.0.0.1, a free port)."""
    port = free_port()
    args = [command, "--host", "127.0.0.1", "--port", str(port)] if command == "api" else [command]
    log = Path(tempfile.gettempdir()) / f"surgewatch-bench-{command}-{os.getpid()}-{port}.log"
    extra = {"SURGEWATCH_METRICS_PORT": str(port)} if command != "api" else {}
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        process = await asyncio.create_subprocess_exec(
            *surgewatch_command(*args),
            env=settings_env(settings, **{**extra, **env}),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        os.close(out)
    return Service(command, process, port, log)


async def wait_ready(service: Service, within_s: float = 60.0) -> float:
    """Poll /readyz (api) or /healthz (workers: and partitions assigned) until ready."""
    path = "/readyz" if service.name == "api" else "/healthz"

    async def ready() -> bool:
        if service.process.returncode is not None:
            raise RuntimeError(
                f"{service.name} exited with {service.process.returncode}: see {service.log}"
            )
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                reply = await http.get(service.url + path)
        except httpx.TransportError:
            return False
        if reply.status_code != 200:
            return False
        return service.name == "api" or bool(reply.json().get("partitions"))

    return await poll_until(ready, within_s, f"{service.name} ready", every=0.1)


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MiB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise LookupError(f"no VmHWM for pid {pid}")


def rss_mib(pid: int) -> float:
    """VmRSS (current resident set) of a live process, in MiB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for pid {pid}")


async def wait_process(process: asyncio.subprocess.Process, seconds: float = 20.0) -> None:
    """SIGTERM a subprocess and wait for it; SIGKILL if it hangs."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), seconds)
        except TimeoutError:
            process.kill()
            await process.wait()


async def poll_until(
    check: Callable[[], Awaitable[bool]], within_s: float, what: str, every: float = 0.01
) -> float:
    """Poll `check` until true; return perf_counter() at that moment (TimeoutError after)."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {within_s}s")
        await asyncio.sleep(every)
    return time.perf_counter()


async def offsets_sum(conn: asyncpg.Connection, group_id: str) -> int:
    """The sum of the ingest's stored next offsets: events stored, on a fresh topic."""
    value = await conn.fetchval(
        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = $1", group_id
    )
    return int(value)


async def wait_offsets(
    conn: asyncpg.Connection, group_id: str, target: int, within_s: float, every: float = 0.05
) -> float:
    """Poll until the stored offsets reach `target`; return perf_counter() at that moment."""
    deadline = time.monotonic() + within_s
    while True:
        if await offsets_sum(conn, group_id) >= target:
            return time.perf_counter()
        if time.monotonic() > deadline:
            done = await offsets_sum(conn, group_id)
            raise TimeoutError(f"ingest stored {done} of {target} events in {within_s}s")
        await asyncio.sleep(every)


# --- events ----------------------------------------------------------------------------------

# Shares of incidents by area, after DESIGN.md's 2023 figures; aliases as publishers send them.
_AREAS = (
    (("PK-KP", "KP", "Khyber Pakhtunkhwa", "kpk"), 0.37),
    (("PK-TA", "FATA", "Federally Administered Tribal Areas"), 0.29),
    (("PK-BA", "Balochistan", "Baluchistan"), 0.26),
    (("PK-SD", "Sindh", "Sind"), 0.05),
    (("PK-PB", "Punjab"), 0.02),
    (("PK-IS", "ICT", "Islamabad"), 0.004),
    (("PK-JK", "AJK", "Azad Kashmir"), 0.003),
    (("PK-GB", "GB", "Gilgit-Baltistan"), 0.003),
)
_CATEGORIES = tuple(c.value for c in Category)
_TARGETS = ("security_forces", "civilians", "government", "infrastructure", "religious", None)
_PERPETRATORS = ("TTP", "BLA", "ISKP", "unknown", None)
_WORDS = (
    *("attack", "checkpoint", "convoy", "police", "militants", "district", "market", "patrol"),
    *("explosive", "device", "near", "station", "border", "security", "forces", "civilians"),
    *("wounded", "killed", "operation", "compound", "road"),
)


@dataclass(frozen=True)
class Event:
    """One publishable incident: Kafka key and value, and when it happened (for ordering)."""

    key: bytes
    value: bytes
    occurred_at: datetime
    province: str = ""
    id: str = ""


def synthetic_events(
    n: int,
    *,
    seed: int = 7,
    start: date = date(2022, 1, 1),
    days: int = 3 * 365,
    ordered: bool = False,
    prefix: str = "",
) -> list[Event]:
    """`n` valid `incident.reported` events spread over `days` from `start` (seeded).

    Structured CloudEvents with a realistic mix of fields (aliases for provinces, districts,
    locations on some, summaries of 60–200 characters), about 450 bytes each. `ordered` sorts
    them by occurrence, as a replay of history publishes them.
    """
    rng = random.Random(seed)
    names = [names for names, _ in _AREAS]
    weights = [w for _, w in _AREAS]
    base = datetime(start.year, start.month, start.day, tzinfo=UTC)
    offsets = sorted(rng.randrange(days * 86400) for _ in range(n)) if ordered else None
    out: list[Event] = []
    for i in range(n):
        seconds = offsets[i] if offsets is not None else rng.randrange(days * 86400)
        at = base + timedelta(seconds=seconds)
        area = rng.choices(names, weights)[0]
        incident_id = f"{prefix}{seed}-{i}"
        data: dict[str, Any] = {
            "id": incident_id,
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "province": rng.choice(area),
            "category": rng.choice(_CATEGORIES),
            "killed": min(int(rng.paretovariate(1.6)) - 1, 200),
            "injured": min(int(rng.paretovariate(1.3)) - 1, 400),
            "summary": " ".join(rng.choices(_WORDS, k=rng.randint(8, 28))),
        }
        if (target := rng.choice(_TARGETS)) is not None:
            data["target"] = target
        if (perpetrator := rng.choice(_PERPETRATORS)) is not None:
            data["perpetrator"] = perpetrator
        if rng.random() < 0.6:
            data["district"] = f"District {rng.randint(1, 40)}"
        if rng.random() < 0.4:
            data["location"] = {
                "lat": round(rng.uniform(25, 35), 4),
                "lon": round(rng.uniform(62, 74), 4),
            }
        envelope = {
            "specversion": "1.0",
            "id": f"{SOURCE}/{incident_id}/1",
            "source": SOURCE,
            "type": "incident.reported",
            "datacontenttype": "application/json",
            "time": data["occurred_at"],
            "data": data,
        }
        out.append(
            Event(
                key=f"{SOURCE}\x1f{incident_id}".encode(),
                value=orjson.dumps(envelope),
                occurred_at=at,
                province=area[0],
                id=incident_id,
            )
        )
    return out


def event_now(events: Sequence[Event]) -> datetime:
    """A `now` after every event (parse refuses events more than a day in the future)."""
    return max((e.occurred_at for e in events), default=datetime.now(UTC)) + timedelta(days=1)


async def publish(
    settings: Settings,
    events: Sequence[Event],
    topic: str | None = None,
    chunk: int = 5000,
    producer: AIOKafkaProducer | None = None,
) -> float:
    """Publish `events` (unpaced) to `topic` (default: incidents); return the seconds it took."""
    topic = topic or settings.topic_incidents
    await ensure_topics(settings, [topic])
    own = producer is None
    producer = producer or make_producer(settings, linger_ms=20, max_batch_size=1024 * 1024)
    if own:
        await producer.start()
    try:
        with Timer() as timer:
            for i in range(0, len(events), chunk):
                futures = [
                    await producer.send(topic, e.value, key=e.key) for e in events[i : i + chunk]
                ]
                await asyncio.gather(*futures)
        return timer.seconds
    finally:
        if own:
            await producer.stop()


def parse_size(text: str) -> int:
    """'200k' → 200000, '1M' → 1000000, '5000' → 5000 (for --events)."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)
