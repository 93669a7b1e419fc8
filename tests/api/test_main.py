"""`surgewatch api`: the command serves, answers /readyz and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx

from services.core.broker import free_port


async def test_the_command_serves_and_stops_on_sigterm(sqlite_url: str) -> None:
    port = free_port()
    env = {**os.environ, "SURGEWATCH_DATABASE_URL": sqlite_url, "SURGEWATCH_LOG_FORMAT": "json"}
    env.pop("SURGEWATCH_KAFKA_BOOTSTRAP", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "api", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    ready = await client.get("/readyz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the api never answered")
            assert ready.status_code == 200
            assert (await client.get("/v1/picture")).status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0, stderr.decode()[-2000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
