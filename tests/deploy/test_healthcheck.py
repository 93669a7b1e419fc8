"""deploy/healthcheck.py, the image's HEALTHCHECK: which port it probes for which command, and
its verdict against a real HTTP server."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from tests.deploy.support import DEPLOY, output, run

SCRIPT = DEPLOY / "healthcheck.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("surgewatch_healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = load_script()

PYTHON_ENTRYPOINT = ["/opt/venv/bin/python", "/opt/venv/bin/surgewatch"]


@pytest.mark.parametrize(
    ("env", "args", "url"),
    [
        ({}, ["ingest"], "http://127.0.0.1:9101/healthz"),
        ({}, ["alerts"], "http://127.0.0.1:9102/healthz"),
        ({}, ["api", "--host", "0.0.0.0", "--port", "8000"], "http://127.0.0.1:8000/healthz"),
        ({}, ["api", "--port=8080"], "http://127.0.0.1:8080/healthz"),
        ({}, ["api"], "http://127.0.0.1:8000/healthz"),
        ({"SURGEWATCH_METRICS_PORT": "9200"}, ["ingest"], "http://127.0.0.1:9200/healthz"),
        # The api serves its own /metrics: a stray ops port must not redirect its probe.
        ({"SURGEWATCH_METRICS_PORT": "9200"}, ["api"], "http://127.0.0.1:8000/healthz"),
        ({"SURGEWATCH_HEALTH_PORT": "7000"}, ["api"], "http://127.0.0.1:7000/healthz"),
        ({"SURGEWATCH_HEALTH_PORT": "7000"}, ["ingest"], "http://127.0.0.1:7000/healthz"),
        ({}, ["db", "upgrade"], "http://127.0.0.1:8000/healthz"),
        ({}, [], "http://127.0.0.1:8000/healthz"),
    ],
)
def test_health_url(env: dict[str, str], args: list[str], url: str) -> None:
    assert healthcheck.health_url(env, [*PYTHON_ENTRYPOINT, *args]) == url


def test_health_url_takes_a_path() -> None:
    url = healthcheck.health_url({}, [*PYTHON_ENTRYPOINT, "api"], "/readyz")
    assert url == "http://127.0.0.1:8000/readyz"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def probe_exit(port: int, *args: str) -> tuple[int, str]:
    """Run the script as the image does, but with `-I -S`: it must need nothing beyond the
    standard library."""
    result = run(
        [sys.executable, "-I", "-S", SCRIPT, *args], env={"SURGEWATCH_HEALTH_PORT": str(port)}
    )
    return result.returncode, output(result)


def test_healthy_service_exits_zero(server_port: int) -> None:
    code, out = probe_exit(server_port)
    assert code == 0, out


def test_unready_service_exits_one(server_port: int) -> None:
    code, out = probe_exit(server_port, "/readyz")
    assert code == 1, out
    assert "503" in out


def test_nothing_listening_exits_one() -> None:
    code, out = probe_exit(closed_port())
    assert code == 1, out
