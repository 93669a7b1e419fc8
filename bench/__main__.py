"""`make bench`: run every benchmark, one subprocess each, and collect their JSON lines.

    python -m bench [NAME ...] [--quick]

Sizes are chosen so the whole run fits in about 30 minutes on a shared 2-core machine; each
benchmark's own defaults are the issue's full sizes (run one alone for those). `--quick` runs
the tiny sizes of the smoke test. The summaries go to var/bench/results-<time>.json and, as
the last line, one JSON object {name: summary}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"

# name → (arguments for `make bench`, arguments for --quick or None: not in --quick)
BENCHES: dict[str, tuple[list[str], list[str] | None]] = {
    "alerts_cost": ([], ["--years", "1,3", "--days", "2"]),
    "ingest_throughput": (
        ["--events", "200k", "--naive", "5000"],
        ["--events", "2000", "--naive", "200"],
    ),
    "latency": (["--seconds", "60"], ["--seconds", "3", "--rate", "200"]),
    "api_wrk": (["--seconds", "10"], ["--seconds", "1", "--events", "500", "--connections", "4"]),
    "ingest_memory": (["--events", "1M"], ["--events", "2000"]),
    "backfill": (
        ["--events", "1M", "--days", "3650"],
        ["--events", "2000", "--days", "30", "--slow-rate", "1000", "--compare-events", "300"],
    ),
    "alerts_eval": (["--quick"], None),  # the detection-quality benchmark (tuning the rules)
}


def run(name: str, args: list[str]) -> dict[str, Any]:
    """Run `python -m bench.<name> args`, echo its output, return its last JSON line."""
    command = [sys.executable, "-m", f"bench.{name}", *args]
    print(f"$ {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    last = ""
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.strip():
            last = line
    code = process.wait()
    seconds = round(time.perf_counter() - started, 1)
    if code != 0:
        return {"bench": name, "error": f"exit status {code}", "seconds": seconds}
    try:
        summary = orjson.loads(last)
    except orjson.JSONDecodeError:
        return {"bench": name, "error": "no JSON summary line", "seconds": seconds}
    if not isinstance(summary, dict):
        return {"bench": name, "error": "the summary is not a JSON object", "seconds": seconds}
    return {**summary, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test's)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    names = args.names or [
        n for n, (_, quick) in BENCHES.items() if quick is not None or not args.quick
    ]
    results = {}
    for name in names:
        full, quick = BENCHES[name]
        results[name] = run(name, (quick or full) if args.quick else full)
    print("\n== summary")
    for name, summary in results.items():
        verdict = (
            summary["error"]
            if "error" in summary
            else {True: "target met", False: "target MISSED", None: "no target"}.get(
                summary.get("target_met"), "see output"
            )
        )
        print(f"   {name:18s} {summary['seconds']:7.1f}s  {verdict}")
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"results-{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results).decode(), flush=True)
    return 1 if any("error" in s for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
