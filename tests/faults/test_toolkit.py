"""The fault toolkit itself: the proxy forwards, cuts, refuses, restores and delays."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from tests.support.faults import TcpProxy, parse_metrics


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def roundtrip(port: int, payload: bytes = b"ping") -> tuple[bytes, float]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    writer.close()
    return data, time.monotonic() - started


async def test_proxy_forwards_cuts_refuses_restores_and_delays(echo: int) -> None:
    async with TcpProxy("127.0.0.1", echo) as proxy:
        assert (await roundtrip(proxy.port))[0] == b"ping"

        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        await proxy.cut()
        with contextlib.suppress(ConnectionResetError):  # reset or closed: either way, gone
            assert await asyncio.wait_for(reader.read(1), 5) == b"", "open connection closed"
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)

        await proxy.restore()
        assert (await roundtrip(proxy.port))[0] == b"ping"

        proxy.delay(200)
        data, took = await roundtrip(proxy.port)
        assert data == b"ping" and took >= 0.4, "200 ms each way"
        proxy.delay(0)
        assert (await roundtrip(proxy.port))[1] < 0.2


def test_parse_metrics_keys_by_name_and_labels() -> None:
    text = '# TYPE x_total counter\nx_total{a="1",b="2"} 3.0\n# TYPE g gauge\ng 1.5\n'
    assert parse_metrics(text) == {
        ("x_total", (("a", "1"), ("b", "2"))): 3.0,
        ("g", ()): 1.5,
    }
