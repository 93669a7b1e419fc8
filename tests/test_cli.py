"""The console script as a process: how it starts and stops whatever the command."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys

import pytest


@pytest.mark.parametrize("after_s", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("command", ["ingest", "alerts"])
async def test_a_sigterm_while_starting_up_exits_cleanly(command: str, after_s: float) -> None:
    """An orchestrator may stop a pod the moment it starts: exit 0, not killed by the signal.
    (Within the interpreter's own start-up, the first ~0.1 s, no Python code runs yet.)"""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # a "broker" that accepts and never answers: start-up waits

    broker = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = broker.sockets[0].getsockname()[1]
    env = {
        **os.environ,
        "SURGEWATCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "SURGEWATCH_DATABASE_URL": "sqlite+aiosqlite:///:memory:",
        "SURGEWATCH_METRICS_PORT": "0",
    }
    script = shutil.which("surgewatch", path=os.path.dirname(sys.executable))
    assert script, "the console script is installed beside the interpreter"
    process = await asyncio.create_subprocess_exec(
        script, command, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.sleep(after_s)
        assert process.returncode is None, "still starting up when the signal comes"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
        broker.close()
