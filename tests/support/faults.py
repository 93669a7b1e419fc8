"""Fault injection for tests: a loopback TCP proxy that misbehaves on demand, and service processes
controlled by PID (kill -9, SIGSTOP/SIGCONT, health checks, metric scrapes).

Everything is asyncio and runs in the test's own event loop, so the proxy keeps forwarding while
the test awaits; a test that blocks the loop stalls the proxy too (never call blocking I/O here).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from services.core.broker import free_port
from services.core.kafka import client_options, make_producer
from services.core.settings import Settings

_CHUNK = 64 * 1024
SERVICES = ("ingest", "alerts", "api")


@dataclass(eq=False)
class _Pipe:
    """One proxied connection: the client side, the upstream side and the two pumps."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()  # RST, as a dead network path or a killed peer looks
        for pump in self.pumps:
            pump.cancel()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `cut()`, `restore()` and `delay(ms)` break it.

    - `cut()` resets every open connection and stops listening, so new connections are refused
      (ECONNREFUSED) until `restore()` listens again on the same port.
    - `delay(ms)` holds every chunk for `ms` milliseconds in both directions (0 removes it).
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.delay_s = 0.0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._server is None

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    async def start(self) -> TcpProxy:
        await self._listen()
        return self

    async def stop(self) -> None:
        await self._close_listener()
        self._abort_all()

    async def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        await self._close_listener()
        self._abort_all()

    async def restore(self) -> None:
        """Listen again (same port) and forward without delay."""
        self.delay_s = 0.0
        if self._server is None:
            await self._listen()

    def delay(self, ms: float) -> None:
        self.delay_s = ms / 1000

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    def _abort_all(self) -> None:
        for pipe in list(self._pipes):
            pipe.abort()
        self._pipes.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pipe = _Pipe(writer, up_writer)
        self._pipes.add(pipe)
        pipe.pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        try:
            await asyncio.gather(*pipe.pumps, return_exceptions=True)
        finally:
            self._pipes.discard(pipe)
            writer.close()
            up_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.write_eof()


# --- service processes ----------------------------------------------------------------------


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a `surgewatch` subprocess use `settings` (plus `extra`)."""
    env = {
        **os.environ,
        "SURGEWATCH_DATABASE_URL": settings.database_url,
        "SURGEWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "SURGEWATCH_TOPIC_INCIDENTS": settings.topic_incidents,
        "SURGEWATCH_TOPIC_ACCEPTED": settings.topic_accepted,
        "SURGEWATCH_TOPIC_DLQ": settings.topic_dlq,
        "SURGEWATCH_TOPIC_ALERTS": settings.topic_alerts,
        "SURGEWATCH_CLOCK": settings.clock.value,
        "SURGEWATCH_RULES_FILE": str(settings.rules_file),
        "SURGEWATCH_INGEST__GROUP_ID": settings.ingest.group_id,
        "SURGEWATCH_INGEST__SESSION_TIMEOUT_MS": str(settings.ingest.session_timeout_ms),
        "SURGEWATCH_INGEST__HEARTBEAT_INTERVAL_MS": str(settings.ingest.heartbeat_interval_ms),
        "SURGEWATCH_INGEST__BATCH_MAX": str(settings.ingest.batch_max),
        "SURGEWATCH_INGEST__RETRY_MAX_S": str(settings.ingest.retry_max_s),
        "SURGEWATCH_ALERTS__GROUP_ID": settings.alerts.group_id,
        "SURGEWATCH_ALERTS__SESSION_TIMEOUT_MS": str(settings.alerts.session_timeout_ms),
        "SURGEWATCH_ALERTS__HEARTBEAT_INTERVAL_MS": str(settings.alerts.heartbeat_interval_ms),
        "SURGEWATCH_ALERTS__DEBOUNCE_MS": str(settings.alerts.debounce_ms),
        "SURGEWATCH_ALERTS__TICK_S": str(settings.alerts.tick_s),
        "SURGEWATCH_LOG_FORMAT": "json",
    }
    for name, keys in (
        ("API_KEYS", settings.api_keys),
        ("PUBLISHER_KEYS", settings.publisher_keys),
        ("OPERATOR_KEYS", settings.operator_keys),
    ):
        if keys:
            env[f"SURGEWATCH_{name}"] = ",".join(k.get_secret_value() for k in keys)
    env.update(extra)
    return env


class ServiceProcess:
    """`python -m services.cli <service> [args]` as a child process, controlled by PID.

    The ops port (ingest, alerts: `SURGEWATCH_METRICS_PORT`; api: `--port`) is chosen here so the
    test can ask /healthz and /metrics. Output goes to `log_path`, appended across restarts.
    """

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        log_path: Path,
        args: tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        self.service = service
        self.port = port or free_port()
        self.args = args
        self.env = dict(env)
        if service == "api":
            self.args = (*args, "--host", "127.0.0.1", "--port", str(self.port))
        else:
            self.env["SURGEWATCH_METRICS_PORT"] = str(self.port)
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.service} was never started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> ServiceProcess:
        assert not self.alive, f"{self.service} is already running"
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            self.service,
            *self.args,
            env=self.env,
            stdout=self._log,
            stderr=self._log,
            stdin=asyncio.subprocess.DEVNULL,
        )
        self.starts += 1
        return self

    async def kill9(self) -> None:
        """SIGKILL, and reap it: no handler, no flush, no goodbye to the group."""
        assert self.process is not None
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    async def terminate(self, within: float = 30) -> int:
        """SIGTERM and wait for the exit code (SIGKILL and fail if it takes longer)."""
        assert self.process is not None
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.kill9()
            raise AssertionError(f"{self.service} ignored SIGTERM for {within}s") from None

    async def close(self) -> None:
        """Make sure it is gone (test teardown)."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
            with contextlib.suppress(Exception):
                await self.terminate(15)
        if self._log is not None:
            self._log.close()
            self._log = None

    async def health(self, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of a health route; (0, {}) if nothing answers."""
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(self.url + path)
        except httpx.HTTPError:
            return 0, {}
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {}

    async def wait_healthy(self, within: float = 30, path: str = "/healthz") -> float:
        """Wait for a 200 from `path`; returns the seconds it took. Fails if the process dies."""
        return await self.wait_health(lambda status, _: status == 200, within, path)

    async def wait_health(
        self,
        ok: Callable[[int, dict[str, Any]], bool],
        within: float = 30,
        path: str = "/healthz",
    ) -> float:
        """Wait until `ok(status, body)` holds for `path`; fails if the process dies first."""
        started = time.monotonic()
        deadline = started + within
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(f"{self.service} exited with {self.returncode}: {self.tail()}")
            if ok(*await self.health(path)):
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.service}: {path} not as wanted in {within}s: {self.tail()}")

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, keyed by (name, sorted labels)."""
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(self.url + "/metrics")
        response.raise_for_status()
        return parse_metrics(response.text)

    async def sample(self, name: str, **labels: str) -> float | None:
        return (await self.metrics()).get((name, tuple(sorted(labels.items()))))

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """ingest, alerts and api as `surgewatch` child processes on one environment."""

    def __init__(
        self, env: Mapping[str, str], log_dir: Path, services: tuple[str, ...] = SERVICES
    ) -> None:
        self.procs = {s: ServiceProcess(s, env, log_dir / f"{s}.log") for s in services}

    def __getitem__(self, service: str) -> ServiceProcess:
        return self.procs[service]

    async def start(self, within: float = 60) -> Stack:
        """Start every service and wait until each one's /healthz answers 200."""
        for proc in self.procs.values():
            await proc.start()
        for proc in self.procs.values():
            await proc.wait_healthy(within)
        return self

    async def close(self) -> None:
        for proc in self.procs.values():
            await proc.close()

    def pids(self) -> dict[str, int]:
        return {s: p.pid for s, p in self.procs.items()}

    def check_alive(self) -> None:
        for proc in self.procs.values():
            assert proc.alive, f"{proc.service} exited with {proc.returncode}: {proc.tail()}"


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def pause_pid(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)


def resume_pid(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


# --- topics ---------------------------------------------------------------------------------


async def read_topic(settings: Settings, topic: str, quiet: float = 1.5) -> list[Any]:
    """Every record of `topic` from the beginning: reads until nothing new came for `quiet` s."""
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                if records:
                    out.extend(records)
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return out


class PacedPublisher:
    """Publishes (key, value) pairs to a topic at about `rate` per second, in the background.

    `sent` counts the messages the broker has acknowledged so far.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        messages: list[tuple[bytes, bytes]],
        rate: float,
        chunk: int = 100,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.messages = messages
        self.rate = rate
        self.chunk = chunk
        self.sent = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> PacedPublisher:
        self.task = asyncio.create_task(self._run())
        return self

    async def wait(self, within: float = 600) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, within)

    async def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        producer = make_producer(self.settings)
        await producer.start()
        try:
            started = time.monotonic()
            for i in range(0, len(self.messages), self.chunk):
                futures = [
                    await producer.send(self.topic, value, key=key)
                    for key, value in self.messages[i : i + self.chunk]
                ]
                await asyncio.gather(*futures)
                self.sent += len(futures)
                ahead = started + self.sent / self.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
