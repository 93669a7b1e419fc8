"""Container health probe for the surgewatch image: exit 0 when the service's /healthz answers 200.

One image runs three services on different ports, so the port is worked out from, in this order:
`SURGEWATCH_HEALTH_PORT`; for `api`, its `--port` (default 8000); for the workers,
`SURGEWATCH_METRICS_PORT`, else their defaults (`ingest` 9101, `alerts` 9102); else 8000. The
command is read from PID 1, the container's main process. Standard library only: it runs with
the image's Python, outside the application.

Usage: healthcheck.py [PATH]   (PATH defaults to /healthz; the api's readiness is /readyz)
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

WORKER_PORTS = {"ingest": 9101, "alerts": 9102}
API_PORT = 8000


def service_port(argv: Sequence[str]) -> tuple[str | None, int | None]:
    """The service a `surgewatch …` command line runs and its default health port."""
    for i, arg in enumerate(argv):
        if arg in WORKER_PORTS:
            return arg, WORKER_PORTS[arg]
        if arg == "api":
            rest = list(argv[i + 1 :])
            for j, opt in enumerate(rest):
                if opt == "--port" and j + 1 < len(rest):
                    return arg, int(rest[j + 1])
                if opt.startswith("--port="):
                    return arg, int(opt.split("=", 1)[1])
            return arg, API_PORT
    return None, None


def health_url(env: Mapping[str, str], argv: Sequence[str], path: str = "/healthz") -> str:
    """The URL to probe: an explicit health port, else the api's own port, else the ops port."""
    service, port = service_port(argv)
    if env.get("SURGEWATCH_HEALTH_PORT"):
        port = int(env["SURGEWATCH_HEALTH_PORT"])
    elif service != "api" and env.get("SURGEWATCH_METRICS_PORT"):
        port = int(env["SURGEWATCH_METRICS_PORT"])
    return f"http://127.0.0.1:{port or API_PORT}{path}"


def main_argv() -> list[str]:
    """The command line of the container's main process (PID 1), or [] if unreadable."""
    try:
        with open("/proc/1/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def probe(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """GET `url`; healthy means HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {exc}"


def main(args: Sequence[str]) -> int:
    path = args[0] if args else "/healthz"
    ok, detail = probe(health_url(os.environ, main_argv(), path))
    print(detail, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
