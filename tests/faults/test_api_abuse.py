"""Abuse of the api: stateful fuzzing, bad keys, oversized requests, clients that never read.

CI size = full size. Against PostgreSQL and the session broker, with read, publisher and
operator keys set:
- a schemathesis state machine (links inferred from the OpenAPI document) runs first with wrong
  keys, then with valid ones: no 5xx ever, and the wrong-key run publishes and acknowledges
  nothing;
- a table of bad credentials on the write and ack routes: 401/403, nothing published, no ack;
- a real `surgewatch api` process gets oversized bodies, headers and queries: 4xx, never 5xx,
  and an unauthenticated body announced as 48 MiB is refused before it is read;
- 20 SSE clients that never read while 3,000 transitions (24 MB each) stream: the process's
  memory stays bounded (a stalled stream pins one batch of rows, not the stream: ~2.5 MB here
  against the 400 MB an unbounded buffer would take) and a reading client still gets every
  transition.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from services.core.broker import EmbeddedBroker
from services.core.db import make_engine
from services.core.kafka import ensure_topics
from services.core.migrate import upgrade_async
from services.core.models import AlertRow, AlertTransitionRow
from services.core.settings import Settings, load_settings
from tests.api.rows import Rows, at_noon, today
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.faults import ServiceProcess, cpu_seconds, read_topic, rss_mb, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READ, PUBLISHER, OPERATOR = "abuse-read", "abuse-publisher", "abuse-operator"
NOT_APPLICABLE = [ignored_auth, positive_data_acceptance]  # see tests/api/test_openapi.py


@pytest.fixture
async def settings(fault_settings: Callable[..., Settings]) -> Settings:
    built = fault_settings(api_keys=READ, publisher_keys=PUBLISHER, operator_keys=OPERATOR)
    await ensure_topics(built)
    return built


@pytest.fixture
async def seeded(fault_engine: AsyncEngine) -> list[int]:
    return await seed(fault_engine)


async def seed(engine: AsyncEngine) -> list[int]:
    """Counts, incidents and open alerts to act on; returns the alert ids."""
    rows = Rows(engine)
    for d in range(40):
        await rows.counts("PK-BA", today() - timedelta(days=d), 1 + d % 3, killed=d % 2)
    for i in range(5):
        await rows.incident(f"seed-{i}", at_noon(today() - timedelta(days=i)))
    return [await rows.alert("PK-BA", rule=f"rule_{i}", state="firing") for i in range(3)]


async def acknowledged(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        transitions = await conn.scalar(
            select(func.count()).where(AlertTransitionRow.to_state == "acknowledged")
        )
        flagged = await conn.scalar(
            select(func.count()).where(AlertRow.acknowledged_at.is_not(None))
        )
    return int(transitions or 0) + int(flagged or 0)


# --- stateful fuzzing ------------------------------------------------------------------------


@dataclass
class Tally:
    calls: int = 0
    server_errors: int = 0
    by_status: dict[int, int] | None = None

    def add(self, status: int) -> None:
        self.calls += 1
        self.server_errors += status >= 500
        self.by_status = self.by_status or {}
        self.by_status[status] = self.by_status.get(status, 0) + 1


@pytest.fixture
def schema(settings: Settings, seeded: list[int]) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(settings, heartbeat_s=0.2)
    config = schemathesis.config.SchemathesisConfig.from_dict({"max-stream-events": 1})
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    asgi.shutdown_lifespans()


def run_workflow(schema: schemathesis.BaseSchema, keys: Callable[[Any], dict[str, str]]) -> Tally:
    tally = Tally()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": keys(case)}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            tally.add(response.status_code)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, excluded_checks=NOT_APPLICABLE)

    Workflow.run(
        settings=hypothesis_settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    return tally


def valid_key(case: Any) -> dict[str, str]:
    publishing = case.operation.method.upper() == "POST" and case.operation.path == "/v1/incidents"
    return {"X-API-Key": PUBLISHER if publishing else OPERATOR}


async def test_stateful_fuzzing_no_5xx_and_wrong_keys_change_nothing(
    schema: schemathesis.BaseSchema,
    settings: Settings,
    fault_engine: AsyncEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert len(schema.as_state_machine().bundles) >= 2, "links were inferred: calls chain"
    started = time.monotonic()
    wrong = await asyncio.to_thread(
        run_workflow, schema, lambda case: {"Authorization": "Bearer not-a-key"}
    )
    assert wrong.server_errors == 0
    # Refused (or, for a malformed parameter, invalid before the key is looked at): never done.
    assert all(400 <= s < 500 for s in wrong.by_status or {}), wrong.by_status
    assert await read_topic(settings, settings.topic_incidents, quiet=0.5) == []
    assert await acknowledged(fault_engine) == 0

    valid = await asyncio.to_thread(run_workflow, schema, valid_key)
    took = time.monotonic() - started
    assert valid.server_errors == 0, valid.by_status
    assert any(200 <= s < 300 for s in valid.by_status or {}), "valid keys got through"
    with capsys.disabled():
        print(
            f"\n[faults] api stateful: wrong keys {wrong.calls} calls {wrong.by_status}; "
            f"valid keys {valid.calls} calls {valid.by_status}; 0 5xx; {took:.1f}s"
        )


# --- credentials -------------------------------------------------------------------------------

BAD_CREDENTIALS: list[tuple[str, dict[str, str | bytes]]] = [
    ("none", {}),
    ("empty bearer", {"Authorization": "Bearer "}),
    ("basic scheme", {"Authorization": f"Basic {OPERATOR}"}),
    ("no scheme", {"Authorization": OPERATOR}),
    ("wrong key", {"X-API-Key": "guess"}),
    ("prefix of the key", {"X-API-Key": OPERATOR[:-1]}),
    ("key plus a byte", {"X-API-Key": OPERATOR + "x"}),
    ("case changed", {"X-API-Key": OPERATOR.upper()}),
    ("read key", {"X-API-Key": READ}),
    ("huge key", {"X-API-Key": "k" * 8000}),
    ("utf-8 key", {"Authorization": "Bearer ключ🔑".encode()}),
    ("two keys, first wrong", {"X-API-Key": "guess", "Authorization": f"Bearer {OPERATOR}"}),
]


def incident_body(id_: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"evt-{id_}",
            "source": "faults/abuse",
            "type": "incident.reported",
            "data": {
                "id": id_,
                "occurred_at": today().isoformat(),
                "province": "KP",
                "category": "bombing",
            },
        }
    )


async def test_write_and_ack_routes_never_act_without_a_valid_key(
    settings: Settings, seeded: list[int], fault_engine: AsyncEngine
) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        wrong_route = [
            ("operator key on publish", "publish", {"X-API-Key": OPERATOR}),
            ("publisher key on ack", "ack", {"X-API-Key": PUBLISHER}),
        ]
        cases = [(n, r, h) for n, h in BAD_CREDENTIALS for r in ("publish", "ack")]
        for i, (name, route, headers) in enumerate([*cases, *wrong_route]):
            if route == "publish":
                response = await client.post(
                    "/v1/incidents",
                    content=incident_body(f"abuse-{i}"),
                    headers={**headers, "content-type": "application/cloudevents+json"},
                )
            else:
                response = await client.post(
                    f"/v1/alerts/{seeded[0]}/ack", json={"by": "intruder"}, headers=headers
                )
            assert response.status_code in (401, 403), (name, route, response.status_code)
            assert response.headers["content-type"].startswith("application/problem+json")
        for name, headers in BAD_CREDENTIALS:
            response = await client.get("/v1/rejections", headers=headers)
            assert response.status_code in (401, 403), (name, response.status_code)
        # The same requests with the right keys do act: the checks above could fail.
        ok = await client.post(
            "/v1/incidents",
            content=incident_body("abuse-valid"),
            headers={"X-API-Key": PUBLISHER, "content-type": "application/cloudevents+json"},
        )
        assert ok.status_code == 202
    published = await read_topic(settings, settings.topic_incidents, quiet=0.5)
    assert [orjson.loads(r.value)["data"]["id"] for r in published] == ["abuse-valid"]
    assert await acknowledged(fault_engine) == 0


# --- a real server: oversized requests, clients that never read ------------------------------


@dataclass
class Server:
    """One `surgewatch api` process shared by the tests below (none of them acts on it)."""

    api: ServiceProcess
    engine: AsyncEngine
    alerts: list[int]


@pytest.fixture(scope="module")
async def server(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    url = await create_pg_database("surgewatch_faults")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = load_settings(
        database_url=url,
        kafka_bootstrap=broker.bootstrap,
        topic_incidents=f"{prefix}.incidents",
        topic_alerts=f"{prefix}.alerts",
        api_keys=READ,
        publisher_keys=PUBLISHER,
        operator_keys=OPERATOR,
    )
    engine = make_engine(settings)
    api = ServiceProcess("api", service_env(settings), tmp_path_factory.mktemp("api") / "api.log")
    try:
        await upgrade_async(url)
        await ensure_topics(settings)
        alerts = await seed(engine)
        await api.start()
        await api.wait_healthy()
        yield Server(api, engine, alerts)
    finally:
        await api.close()
        await engine.dispose()
        await drop_pg_database(url)


async def test_oversized_bodies_headers_and_queries_get_4xx(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    api_process = server.api
    big = b'{"specversion": "1.0", "pad": "' + b"x" * (8 << 20) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(256):  # 16 MiB, no content-length
            yield b"x" * 65_536

    publish = {"X-API-Key": PUBLISHER, "content-type": "application/cloudevents+json"}
    read = {"X-API-Key": READ}
    seen: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=api_process.url, timeout=60) as client:
        seen["8 MiB event"] = (
            await client.post("/v1/incidents", content=big, headers=publish)
        ).status_code
        seen["16 MiB chunked event"] = (
            await client.post("/v1/incidents", content=chunked(), headers=publish)
        ).status_code
        seen["64 KiB + 1 event"] = (
            await client.post("/v1/incidents", content=b" " * 65_537, headers=publish)
        ).status_code
        seen["50 KB query"] = (
            await client.get("/v1/incidents?province=" + "K" * 50_000, headers=read)
        ).status_code
        seen["2,000 query params"] = (
            await client.get(
                "/v1/incidents?" + "&".join(f"p{i}=1" for i in range(2000)), headers=read
            )
        ).status_code
        seen["60 KB header"] = (
            await client.get("/v1/picture", headers={**read, "X-Pad": "y" * 60_000})
        ).status_code
        seen["cursor garbage"] = (
            await client.get("/v1/incidents?cursor=" + "%FF" * 500, headers=read)
        ).status_code
        healthy = (await client.get("/healthz")).status_code
    announced = await announce(api_process, "/v1/incidents", 48 << 20)
    seen["48 MiB announced, no key"] = int(announced.split()[1]) if b"HTTP" in announced else 0
    assert seen["8 MiB event"] == 413
    assert seen["16 MiB chunked event"] == 413
    assert seen["64 KiB + 1 event"] == 413
    assert seen["48 MiB announced, no key"] == 401, "refused before the body is read"
    assert all(s < 500 for s in seen.values()), seen
    assert healthy == 200 and api_process.alive
    with capsys.disabled():
        print(f"\n[faults] api oversized requests: {seen}")


async def announce(api: ServiceProcess, path: str, size: int) -> bytes:
    """POST announcing `size` bytes, send a dozen, and return the status line the api sends
    within 3 s (or a note that it sent none: it is waiting for the rest of the body)."""
    port = int(api.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
        + b'{"by": "xxxx'
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 3)
    except TimeoutError:
        return b"(no answer: the api waits for the whole body)"
    finally:
        writer.transport.abort()


async def test_an_unauthenticated_oversized_ack_is_refused_before_its_body_is_read(
    server: Server,
) -> None:
    """A client announces 48 MiB and sends a few bytes: the api must answer 401 or 413 without
    waiting for (and holding) the rest, or anyone can make it buffer bodies of any size."""
    status_line = await announce(server.api, f"/v1/alerts/{server.alerts[0]}/ack", 48 << 20)
    assert status_line.split()[1:2] in ([b"401"], [b"413"]), status_line


async def add_transitions(engine: AsyncEngine, alert_id: int, n: int) -> None:
    now = datetime.now(UTC)
    row = {
        "alert_id": alert_id,
        "from_state": "firing",
        "to_state": "firing",
        "at": now,
        "recorded_at": now,
        "details": {"note": "x" * 7_000},  # about 8 KB an event: 24 MB a client, far beyond
        # the 4 MB the kernel buffers for a socket, so clients that never read do block
    }
    async with engine.begin() as conn:
        await conn.execute(insert(AlertTransitionRow), [row] * n)


async def test_sse_clients_that_never_read_do_not_grow_memory_or_starve_others(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    api_process, fault_engine, seeded = server.api, server.engine, server.alerts
    slow_clients, transitions = 20, 3_000
    rows = Rows(fault_engine)
    port = int(api_process.url.rsplit(":", 1)[1])
    request = (
        f"GET /v1/stream HTTP/1.1\r\nHost: api\r\nX-API-Key: {READ}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    stalled = []
    for _ in range(slow_clients):  # connect, ask, never read a byte
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow link, not a sponge
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        _, writer = await asyncio.open_connection(sock=sock)
        writer.write(request)
        await writer.drain()
        stalled.append(writer)
    await asyncio.sleep(1)
    before = rss_mb(api_process.pid)
    cpu_before = cpu_seconds(api_process.pid)
    received: list[float] = []
    first_seq = await rows.max_seq()

    async def reader_client() -> None:
        headers = {"X-API-Key": READ, "Last-Event-ID": str(first_seq)}
        async with (
            httpx.AsyncClient(base_url=api_process.url, timeout=None) as client,
            client.stream("GET", "/v1/stream", headers=headers) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    received.append(time.monotonic())
                    if len(received) == transitions:
                        return

    reading = asyncio.create_task(reader_client())
    started = time.monotonic()
    try:
        for chunk in range(0, transitions, 100):  # as the alerts worker would, in bursts
            await add_transitions(fault_engine, seeded[1], min(100, transitions - chunk))
            await asyncio.sleep(0.05)
        await asyncio.wait_for(reading, 120)
    finally:
        reading.cancel()
        for writer in stalled:
            writer.transport.abort()
    took = time.monotonic() - started
    cpu = cpu_seconds(api_process.pid) - cpu_before
    grown = rss_mb(api_process.pid) - before
    assert len(received) == transitions
    assert api_process.alive and (await api_process.health())[0] == 200
    with capsys.disabled():
        print(
            f"\n[faults] SSE: {slow_clients} clients never reading while {transitions} "
            f"transitions streamed; a reading client got all in {took:.1f}s "
            f"(api CPU {cpu:.1f}s); "
            f"api RSS +{grown:.1f} MiB (from {before:.0f})"
        )
    # Unbounded buffering would hold ~20 MB a stalled client (24 MB less the kernel's 4 MB).
    assert grown < 100, f"the api grew {grown:.0f} MiB for clients that never read"
