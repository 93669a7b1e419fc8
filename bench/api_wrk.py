"""API throughput with `wrk`: the picture (200 and 304), incidents, against a bare FastAPI route.

`surgewatch api` (one uvicorn worker, as deployed, default log level) serves a fresh PostgreSQL
database holding `--events` synthetic incidents of the last three years (written by the real
`IngestStore`). The baseline, measured in the same run, is `bench.bare_app`: one FastAPI route
answering the picture's bytes under the same uvicorn settings, on the same host. It is run
before and after the others and averaged. `wrk` (C, `-t1`) drives each for `--seconds`:
- GET /v1/picture (200: the cached body),
- GET /v1/picture with If-None-Match: its ETag (304, through a wrk Lua script),
- GET /v1/incidents (the first page, 50 newest, from the database on every request).
Target: picture ≥ 80% of the bare route's requests/s. p50/p99 latency reported from wrk.

    python -m bench.api_wrk [--seconds 10] [--connections 32] [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.support import (
    bench_settings,
    broker,
    emit,
    fresh_database,
    header,
    poll_until,
    settings_env,
    start_service,
    synthetic_events,
    wait_process,
    wait_ready,
)
from services.core.broker import free_port
from services.core.db import make_engine
from services.core.events import RawMessage
from services.core.gazetteer import load_gazetteer
from services.core.parse import parse
from services.core.settings import Settings
from services.ingest.plan import Item
from services.ingest.store import IngestStore, Span

NAME = "api_wrk"
TARGET = 0.8
WRK = shutil.which("wrk") or "/usr/bin/wrk"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx responses

    def row(self) -> dict[str, float]:
        return {
            "rps": round(self.rps),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
        }


def parse_wrk(output: str) -> WrkResult:
    """Requests/sec, the 50% and 99% latency lines of `--latency`, and the error counts."""

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            raise ValueError(f"no {pct}% line in wrk output:\n{output}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rps or not total:
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(float(rps.group(1)), latency("50"), latency("99"), int(total.group(1)), errors)


async def wrk(url: str, seconds: float, connections: int, script: Path | None = None) -> WrkResult:
    args = [WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    process = await asyncio.create_subprocess_exec(
        *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{out.decode()}")
    return parse_wrk(out.decode())


async def seed(settings: Settings, n: int) -> None:
    """`n` incidents over the three years up to today, written by the real store."""
    today = datetime.now(UTC).date()
    events = synthetic_events(n, start=today - timedelta(days=3 * 365), days=3 * 365)
    now = datetime.now(UTC)
    gazetteer = load_gazetteer(settings.gazetteer_file)
    engine = make_engine(settings, writer=True)
    store = IngestStore(engine, "bench-seed")
    try:
        for first in range(0, n, 5000):
            chunk = events[first : first + 5000]
            items = []
            for offset, e in enumerate(chunk, first):
                raw = RawMessage(e.value, (), "seed", 0, offset)
                items.append(Item(raw, parse(raw, gazetteer, now), e.key))
            await store.write(items, {("seed", 0): Span(first, first + len(chunk) - 1)}, now)
    finally:
        await engine.dispose()


async def start_bare(settings: Settings, body: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bare_app",
        "--port",
        str(port),
        "--body",
        str(body),
        env=settings_env(settings, SURGEWATCH_LOG_LEVEL="INFO"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def up() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"http://127.0.0.1:{port}/bare")).status_code == 200
        except httpx.TransportError:
            return False

    await poll_until(up, 30, "the bare app", every=0.1)
    return process, port


async def main(args: argparse.Namespace) -> None:
    facts = header(NAME, seconds=args.seconds, connections=args.connections, events=args.events)
    work = Path(tempfile.mkdtemp(prefix="surgewatch-bench-wrk-"))
    results: dict[str, WrkResult] = {}
    with broker() as running:
        async with fresh_database() as url:
            settings = bench_settings(running.bootstrap, url)
            await seed(settings, args.events)
            api = await start_service(settings, "api", SURGEWATCH_LOG_LEVEL="INFO")
            bare: asyncio.subprocess.Process | None = None
            try:
                await wait_ready(api)
                async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                    first = await http.get("/v1/picture")
                    first.raise_for_status()
                    etag = first.headers["etag"]
                    again = await http.get("/v1/picture", headers={"If-None-Match": etag})
                    if again.status_code != 304:
                        raise RuntimeError(f"If-None-Match answered {again.status_code}, not 304")
                body = work / "picture.json"
                body.write_bytes(first.content)
                script = work / "if-none-match.lua"
                script.write_text(f"wrk.headers[\"If-None-Match\"] = '{etag}'\n")
                bare, bare_port = await start_bare(settings, body)
                print(f"   picture body {len(first.content)} bytes, ETag {etag}")
                plan = [
                    ("bare", f"http://127.0.0.1:{bare_port}/bare", None),
                    ("picture_200", f"{api.url}/v1/picture", None),
                    ("picture_304", f"{api.url}/v1/picture", script),
                    ("incidents", f"{api.url}/v1/incidents", None),
                    ("bare_again", f"http://127.0.0.1:{bare_port}/bare", None),
                ]
                for label, target, lua in plan:
                    results[label] = await wrk(target, args.seconds, args.connections, lua)
                    r = results[label]
                    print(
                        f"   {label:12s} {r.rps:9,.0f} req/s  p50 {r.p50_ms:7.2f} ms  "
                        f"p99 {r.p99_ms:7.2f} ms  errors {r.errors}"
                    )
            finally:
                if bare is not None:
                    await wait_process(bare)
                await wait_process(api.process)
    shutil.rmtree(work, ignore_errors=True)
    bare_rps = (results["bare"].rps + results["bare_again"].rps) / 2
    ratios = {
        k: round(results[k].rps / bare_rps, 3) for k in ("picture_200", "picture_304", "incidents")
    }
    met = ratios["picture_200"] >= TARGET and ratios["picture_304"] >= TARGET
    for key, ratio in ratios.items():
        print(f"   {key:12s} / bare = {ratio:.2f}")
    print(f"   picture ≥ {TARGET:.0%} of bare: {'met' if met else 'MISSED'}")
    emit(
        NAME,
        facts,
        seconds=args.seconds,
        connections=args.connections,
        events=args.events,
        results={k: v.row() for k, v in results.items()},
        bare_rps=round(bare_rps),
        ratio_vs_bare=ratios,
        target=TARGET,
        target_met=met,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.api_wrk", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=20_000, help="incidents in the database")
    return parser


if __name__ == "__main__":
    asyncio.run(main(build_parser().parse_args()))
