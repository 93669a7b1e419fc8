"""Every benchmark runs end to end at a tiny size and ends with its JSON summary line.

Benchmarks are not tests of speed; this keeps them from rotting. They run concurrently (each
has its own broker and database) with consumer groups joining in 0.5 s instead of 5 s.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest

from bench.__main__ import BENCHES

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 240
# What each summary must carry besides "bench", "machine" and "target_met".
FIGURES = {
    "alerts_cost": {"by_years", "per_rule_ms", "ratio_top_vs_base"},
    "ingest_throughput": {"ingest_eps", "copy_eps", "kafka_mps", "naive_mps", "ratio_vs_limit"},
    "latency": {"latency", "missing", "ratio_p99_vs_kafka"},
    "api_wrk": {"results", "bare_rps", "ratio_vs_bare"},
    "ingest_memory": {"idle_rss_mib", "peak_rss_mib", "ratio_peak_vs_idle"},
    "backfill": {"minutes", "events_per_s", "compare"},
}
SMOKE_ONLY = {"ingest_memory": ["--idle-seconds", "0.5"]}


async def run(name: str, args: list[str]) -> tuple[str, int, str]:
    env = {**os.environ, "SURGEWATCH_BENCH_FAST_JOIN": "1", "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"bench.{name}", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    except TimeoutError:
        process.kill()
        out, _ = await process.communicate()
        return name, -1, out.decode(errors="replace") + f"\n(killed after {TIMEOUT_S}s)"
    assert process.returncode is not None
    return name, process.returncode, out.decode(errors="replace")


async def test_every_benchmark_runs_at_a_tiny_size() -> None:
    assert set(FIGURES) <= set(BENCHES)
    runs = [run(name, [*(BENCHES[name][1] or []), *SMOKE_ONLY.get(name, [])]) for name in FIGURES]
    failures = []
    for name, code, out in await asyncio.gather(*runs):
        lines = [line for line in out.splitlines() if line.strip()]
        try:
            summary = orjson.loads(lines[-1]) if code == 0 and lines else None
        except orjson.JSONDecodeError:
            summary = None
        if not isinstance(summary, dict):
            failures.append(f"{name}: exit {code}, no JSON summary last:\n{out[-3000:]}")
            continue
        missing = (FIGURES[name] | {"bench", "machine", "target_met"}) - set(summary)
        if summary["bench"] != name or missing:
            failures.append(f"{name}: summary {summary['bench']!r} lacks {sorted(missing)}")
    assert not failures, "\n\n".join(failures)
