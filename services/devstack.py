"""`surgewatch dev`: the whole stack on one machine, for a first look and for development.

Starts the embedded broker (unless SURGEWATCH_KAFKA_BOOTSTRAP is set), migrates the database,
runs ingest, alerts (event-time clock) and api as child processes — exactly the commands a
deployment runs — then publishes the demo feed and prints where to look. Ctrl-C (or SIGTERM)
stops the children and the broker; nothing is left running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.core.broker import EmbeddedBroker, free_port, start_broker
from services.core.kafka import ensure_topics
from services.core.migrate import upgrade_async
from services.core.settings import DEFAULT_SQLITE_URL, Clock, Settings

Say = Callable[[str], None]
VAR = Path("var")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    health_url: str
    log: Path


@dataclass
class Stack:
    broker: EmbeddedBroker | None = None
    children: list[Child] = field(default_factory=list)

    async def stop(self) -> None:
        for child in self.children:
            if child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                await asyncio.wait_for(child.process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                child.process.kill()
                await child.process.wait()
        if self.broker is not None:
            self.broker.stop()


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run until interrupted; returns the exit code."""
    say = _printer()
    stack = Stack()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not _port_free(args.host, args.port):
            say(f"port {args.port} on {args.host} is in use: pick another with --port")
            return 2
        env, settings = _prepare(settings, stack, say)
        await upgrade_async(settings.database_url)
        await ensure_topics(settings)
        await _start_services(settings, args, env, stack)
        await _wait_ready(stack, stop)
        if stop.is_set():
            return 130
        _banner(args, stack, env, say)
        if not args.no_demo:
            await _demo(settings, args, say)
        say("running — press Ctrl-C to stop")
        await _supervise(stack, stop, say)
        return 0 if stop.is_set() else 1
    finally:
        say("stopping …")
        await stack.stop()
        say("stopped: no process left behind")


def _prepare(settings: Settings, stack: Stack, say: Say) -> tuple[dict[str, str], Settings]:
    """Broker, database file and log folder; returns the children's environment."""
    (VAR / "logs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    updates: dict[str, object] = {}
    if settings.kafka_bootstrap:
        say(f"Kafka: {settings.kafka_bootstrap} (SURGEWATCH_KAFKA_BOOTSTRAP)")
    else:
        stack.broker = start_broker(log_file=VAR / "broker.log")
        updates["kafka_bootstrap"] = stack.broker.bootstrap
        say(
            f"Kafka: embedded broker on {stack.broker.bootstrap} — it keeps everything in "
            "memory, so every restart of `surgewatch dev` starts from an empty log"
        )
        if settings.database_url == DEFAULT_SQLITE_URL:
            # The database must not remember offsets of a log that no longer exists.
            db = Path(settings.database_url.split(":///", 1)[1])
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                path.unlink(missing_ok=True)
            say(f"database: {db} (started fresh, to match the empty broker)")
    if settings.database_url != DEFAULT_SQLITE_URL:
        say("database: SURGEWATCH_DATABASE_URL")
    if "SURGEWATCH_CLOCK" not in env:
        updates["clock"] = Clock.event_time  # the demo replays 2022–2024: judge it by its own dates
    settings = settings.model_copy(update=updates)
    env.update(
        {
            "SURGEWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
            "SURGEWATCH_DATABASE_URL": settings.database_url,
            "SURGEWATCH_CLOCK": settings.clock.value,
            "SURGEWATCH_LOG_FORMAT": "json",
        }
    )
    for name in ("SURGEWATCH_OPERATOR_KEYS", "SURGEWATCH_PUBLISHER_KEYS"):
        if not env.get(name):
            env[name] = "dev-" + secrets.token_urlsafe(12)
    return env, settings


async def _start_services(
    settings: Settings, args: argparse.Namespace, env: dict[str, str], stack: Stack
) -> None:
    logs = VAR / "logs"
    ports = {"ingest": _port_or_free(9101), "alerts": _port_or_free(9102)}
    commands = {
        "ingest": (["ingest"], ports["ingest"], "/healthz"),
        "alerts": (["alerts"], ports["alerts"], "/healthz"),
        "api": (["api", "--host", args.host, "--port", str(args.port)], args.port, "/readyz"),
    }
    for name, (argv, port, path) in commands.items():
        log = logs / f"{name}.log"
        child_env = {**env, "SURGEWATCH_METRICS_PORT": str(port)}
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.cli",
                *argv,
                env=child_env,
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
            )
        host = "127.0.0.1" if name != "api" else _connect_host(args.host)
        stack.children.append(Child(name, process, f"http://{host}:{port}{path}", log))


async def _wait_ready(stack: Stack, stop: asyncio.Event) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2) as http:
        for child in stack.children:
            while not stop.is_set():
                if child.process.returncode is not None:
                    raise SystemExit(_died(child))
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(child.health_url)).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{child.name} not ready after {READY_TIMEOUT_S:.0f}s")
                await asyncio.sleep(0.2)


async def _demo(settings: Settings, args: argparse.Namespace, say: Say) -> None:
    from services.feeds.replay import replay_demo

    say("publishing the demo feed (2022–2024, calibrated to public figures) …")
    summary = await replay_demo(settings, rate=args.rate)
    if summary.failure:
        say(f"demo feed failed: {summary.failure}")
    else:
        say(f"demo feed: {summary.published} events published; the page fills in as they land")


async def _supervise(stack: Stack, stop: asyncio.Event, say: Say) -> None:
    while not stop.is_set():
        for child in stack.children:
            if child.process.returncode is not None:
                say(_died(child))
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def _banner(args: argparse.Namespace, stack: Stack, env: dict[str, str], say: Say) -> None:
    host = _connect_host(args.host)
    base = f"http://{host}:{args.port}"
    metrics = {c.name: c.health_url.rsplit("/", 1)[0] + "/metrics" for c in stack.children}
    say("")
    say(f"  status page   {base}/")
    say(f"  API           {base}/v1/picture   (OpenAPI: {base}/docs)")
    say(f"  metrics       {metrics['api']}  {metrics['ingest']}  {metrics['alerts']}")
    say(f"  logs          {VAR / 'logs'}/")
    say(f"  operator key  {env['SURGEWATCH_OPERATOR_KEYS'].split(',')[0]}   (acknowledge alerts)")
    say(f"  publisher key {env['SURGEWATCH_PUBLISHER_KEYS'].split(',')[0]}   (POST /v1/incidents)")
    say("")


def _died(child: Child) -> str:
    tail = child.log.read_text(errors="replace").splitlines()[-15:]
    return f"{child.name} exited with {child.process.returncode}; last lines of {child.log}:\n" + (
        "\n".join(tail)
    )


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_or_free(preferred: int) -> int:
    return preferred if _port_free("0.0.0.0", preferred) else free_port()


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def _printer() -> Say:
    def say(line: str) -> None:
        print(f"surgewatch dev │ {line}" if line else "", flush=True)

    return say
