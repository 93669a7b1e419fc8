"""A real stack for the Prometheus end-to-end test: surgewatch's services and Prometheus as child
processes on loopback, a scrape config derived from the shipped one, and Prometheus's HTTP API.

Every process started here is a child of the test, with its output in a log file under the
test's tmp folder; `Stack.stop()` ends them (SIGTERM, then SIGKILL after a grace period) and
`Stack.family` keeps every process of the stack, descendants included, so the test can check
that none is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import yaml

from tests.deploy.support import DEPLOY, RULE_FILES

T = TypeVar("T")
STOP_TIMEOUT_S = 20.0
# The job names the alerting rules rely on (SurgewatchServiceDown): part of the contract.
SERVICE_JOBS = {
    "ingest": "surgewatch-ingest",
    "alerts": "surgewatch-alerts",
    "api": "surgewatch-api",
}


def surgewatch() -> list[str]:
    """The `surgewatch` console script of this environment (or the module, if not installed)."""
    script = shutil.which("surgewatch", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "services.cli"]


def clean_environ() -> dict[str, str]:
    """This process's environment without any SURGEWATCH_* a developer may have exported."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SURGEWATCH_")}


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (exit {self.process.returncode}), {self.log}:\n" + "\n".join(text)


@dataclass
class Stack:
    """Long-running children (started with `start`) and one-shot commands (`run`)."""

    logs: Path
    children: list[Child] = field(default_factory=list)
    family: list[psutil.Process] = field(default_factory=list)

    async def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                *argv, env=dict(env), stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL
            )
        child = Child(name, process, log)
        self.children.append(child)
        with contextlib.suppress(psutil.NoSuchProcess):  # a command may be done already
            self.family.append(psutil.Process(process.pid))
        return child

    async def run(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Run a command to completion (its output in `<name>.log`); returns its exit code.
        It counts among the stack's processes until it exits (a hung one is stopped with it)."""
        child = await self.start(name, argv, env)
        code = await child.process.wait()
        self.children.remove(child)
        return code

    def note_descendants(self) -> None:
        """Remember the children's own children too (call while they run)."""
        for child in self.children:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.family.extend(psutil.Process(child.process.pid).children(recursive=True))

    def check_alive(self) -> None:
        dead = [c for c in self.children if c.process.returncode is not None]
        assert not dead, "\n".join(c.tail() for c in dead)

    async def stop(self) -> dict[str, int]:
        """SIGTERM every child, wait for each (SIGKILL after STOP_TIMEOUT_S); their exit codes."""
        for child in self.children:
            if child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for child in self.children:
            try:
                codes[child.name] = await asyncio.wait_for(child.process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                child.process.kill()
                codes[child.name] = await child.process.wait()
        return codes

    def left_behind(self) -> list[str]:
        """Processes of the stack still running (after `stop`)."""
        _, alive = psutil.wait_procs(self.family, timeout=5)
        return [f"{p.pid} {p.name()}" for p in alive]


async def wait_http_ok(
    http: httpx.AsyncClient, url: str, stack: Stack, within: float, what: str
) -> None:
    """Poll `url` until it answers 200; fail at once if a child died meanwhile."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stack.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(url)).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not ready at {url} after {within:.0f}s")


async def converge(
    fetch: Callable[[], Awaitable[T]],
    expected: Callable[[], Awaitable[T]],
    within: float,
    what: str,
) -> T:
    """Poll until `fetch()` equals `expected()` (both re-read each round); on timeout fail
    showing both last values."""
    deadline = time.monotonic() + within
    while True:
        got, want = await fetch(), await expected()
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: after {within:.0f}s\n  got      {got}\n  expected {want}"
            )
        await asyncio.sleep(0.5)


# --- Prometheus --------------------------------------------------------------------------------


def write_prometheus_config(
    folder: Path, targets: Mapping[str, str], self_address: str, interval: str = "1s"
) -> Path:
    """`folder/prometheus.yml` from the shipped deploy/prometheus/prometheus.yml: the same rule
    files and surgewatch job names, every interval `interval`, the surgewatch jobs pointed at
    `targets` (service name → host:port) and Prometheus at itself; no Alertmanager. The rules
    are copied beside it by `copy_rules`, so the shipped relative `rule_files` resolve."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(
        scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
    )
    config.pop("alerting", None)
    jobs = {SERVICE_JOBS[name]: address for name, address in targets.items()}
    scrape = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name in jobs:
            job["static_configs"] = [{"targets": [jobs.pop(name)]}]
            scrape.append(job)
        elif name == "prometheus":
            job["static_configs"] = [{"targets": [self_address]}]
            scrape.append(job)
    assert not jobs, f"the shipped prometheus.yml has no job {sorted(jobs)}"
    config["scrape_configs"] = scrape
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


FOR_CLAUSE = re.compile(r"^(\s*)for: \S+$", re.MULTILINE)


def copy_rules(folder: Path, for_: str = "0s") -> dict[str, int]:
    """Copy the shipped rule files to `folder/rules/`, every alerting rule's `for:` rewritten to
    `for_` (a test cannot wait the real durations); returns the substitutions per file."""
    rules = folder / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in RULE_FILES:
        text, counts[path.name] = FOR_CLAUSE.subn(rf"\g<1>for: {for_}", path.read_text())
        (rules / path.name).write_text(text)
    return counts


@dataclass
class PrometheusAPI:
    """Prometheus's HTTP API (v1): instant queries, the active alerts, the rules' health."""

    http: httpx.AsyncClient

    async def query(self, expr: str) -> list[dict[str, Any]]:
        response = await self.http.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def values(self, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
        """An instant vector as {(label values…): value}."""
        return {
            tuple(sample["metric"].get(label, "") for label in labels): float(sample["value"][1])
            for sample in await self.query(expr)
        }

    async def alerts(self) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts."""
        body = (await self.http.get("/api/v1/alerts")).json()
        assert body["status"] == "success", body
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    async def rule_groups(self) -> list[dict[str, Any]]:
        """The loaded rule groups, each rule with its `health` and `lastError`."""
        body = (await self.http.get("/api/v1/rules")).json()
        assert body["status"] == "success", body
        groups: list[dict[str, Any]] = body["data"]["groups"]
        return groups
