"""POST /v1/incidents against the real broker: 202 and on the topic, or a clear refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.core.broker import EmbeddedBroker, start_broker
from services.core.events import Incident, RawMessage, Retraction
from services.core.gazetteer import load_gazetteer
from services.core.kafka import client_options, ensure_topics
from services.core.parse import parse
from services.core.settings import Settings
from tests.api.conftest import Api, serving
from tests.support.faults import pause_pid, read_topic, resume_pid

PUBLISHER = "pub-key-1"
STRUCTURED = {"content-type": "application/cloudevents+json", "x-api-key": PUBLISHER}


def event(id_: str, **data: object) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": f"ev-{id_}",
        "source": "urn:desk/quetta",
        "type": "incident.reported",
        "data": {
            "id": id_,
            "occurred_at": "2024-05-01T10:00:00Z",
            "province": "Baluchistan",
            "category": "bombing",
            "killed": 2,
            **data,
        },
    }


KAFKA = ("kafka_bootstrap", "topic_incidents", "topic_accepted", "topic_dlq", "topic_alerts")


async def connected(api: Api) -> Api:
    for _ in range(100):
        if api.context.gateway.producer is not None:
            return api
        await asyncio.sleep(0.1)
    raise AssertionError("the producer never connected")


@pytest.fixture
async def gateway_api(topics: Settings, sqlite_url: str) -> AsyncIterator[Api]:
    overrides = {k: getattr(topics, k) for k in KAFKA}
    async with serving(sqlite_url, publisher_keys=PUBLISHER, **overrides) as api:
        yield await connected(api)


async def consume(settings: Settings, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        settings.topic_incidents,
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        for _ in range(40):
            for batch in (await consumer.getmany(timeout_ms=250)).values():
                records += batch
            if len(records) >= count:
                break
        return records
    finally:
        await consumer.stop()


async def test_structured_and_binary_events_reach_the_topic(
    gateway_api: Api, topics: Settings
) -> None:
    client = gateway_api.client
    structured = await client.post(
        "/v1/incidents", content=orjson.dumps(event("s1")), headers=STRUCTURED
    )
    assert structured.status_code == 202, structured.text
    assert structured.json() == {
        "id": "ev-s1",
        "source": "urn:desk/quetta",
        "incident_id": "s1",
        "type": "incident.reported",
        "topic": topics.topic_incidents,
    }
    binary_headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {PUBLISHER}",
        "ce-specversion": "1.0",
        "ce-id": "ev-b1",
        "ce-source": "urn:desk/karachi",
        "ce-type": "incident.retracted",
    }
    binary = await client.post(
        "/v1/incidents", content=orjson.dumps({"id": "b1"}), headers=binary_headers
    )
    assert binary.status_code == 202, binary.text
    assert binary.json()["type"] == "incident.retracted"

    records = await consume(topics, 2)
    by_key = {r.key: r for r in records}
    assert set(by_key) == {b"urn:desk/quetta\x1fs1", b"urn:desk/karachi\x1fb1"}
    now = datetime.now(UTC)
    gazetteer = load_gazetteer()
    for record in records:
        parsed = parse(RawMessage(record.value, record.headers), gazetteer, now)
        assert isinstance(parsed, Incident | Retraction), parsed
    incident = parse(RawMessage(by_key[b"urn:desk/quetta\x1fs1"].value), gazetteer, now)
    assert isinstance(incident, Incident) and incident.province == "PK-BA"


async def test_bad_events_are_422_with_the_reason(gateway_api: Api) -> None:
    cases = [
        (b"{not json", "invalid_json"),
        (orjson.dumps({"specversion": "0.3"}), "invalid_envelope"),
        (orjson.dumps(event("x", province="Narnia")), "unknown_province"),
        (orjson.dumps(event("x", killed=-1)), "out_of_range"),
        (orjson.dumps(event("x", category="riot")), "schema"),
        (orjson.dumps({**event("x"), "type": "incident.sighted"}), "unsupported_type"),
    ]
    for body, reason in cases:
        response = await gateway_api.client.post("/v1/incidents", content=body, headers=STRUCTURED)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["reason"] == reason and response.json()["detail"]


async def test_size_type_and_keys(gateway_api: Api) -> None:
    client = gateway_api.client
    big = orjson.dumps(event("big", summary="x" * 70_000))
    too_large = await client.post("/v1/incidents", content=big, headers=STRUCTURED)
    assert too_large.status_code == 413 and too_large.json()["reason"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await client.post("/v1/incidents", content=chunks(), headers=STRUCTURED)
    assert streamed.status_code == 413
    text = await client.post(
        "/v1/incidents", content=b"hello", headers={**STRUCTURED, "content-type": "text/plain"}
    )
    assert text.status_code == 415
    body = orjson.dumps(event("k"))
    ctype = {"content-type": "application/cloudevents+json"}
    assert (await client.post("/v1/incidents", content=body, headers=ctype)).status_code == 401
    wrong = {**ctype, "x-api-key": "not-it"}
    refused = await client.post("/v1/incidents", content=body, headers=wrong)
    assert refused.status_code == 403 and "not-it" not in refused.text


async def test_without_kafka_the_gateway_is_503(sqlite_url: str) -> None:
    async with serving(sqlite_url, publisher_keys=PUBLISHER) as api:
        response = await api.client.post(
            "/v1/incidents", content=orjson.dumps(event("n")), headers=STRUCTURED
        )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, to freeze (SIGSTOP) without touching the session's."""
    with start_broker(log_file=tmp_path / "tansu.log") as broker:
        try:
            yield broker
        finally:
            if broker.process.poll() is None:
                resume_pid(broker.process.pid)  # so that stopping it can terminate it


async def published(settings: Settings) -> list[str]:
    """The incident ids on the topic, sorted (partitions have no order between them)."""
    records = await read_topic(settings, settings.topic_incidents, quiet=0.5)
    return sorted(orjson.loads(r.value)["data"]["id"] for r in records)


async def post(api: Api, id_: str) -> tuple[int, dict[str, str], dict[str, object]]:
    response = await api.client.post(
        "/v1/incidents", content=orjson.dumps(event(id_)), headers=STRUCTURED
    )
    return response.status_code, dict(response.headers), response.json()


async def test_an_unacknowledged_publish_is_504_unknown_outcome_and_safe_to_retry(
    own_broker: EmbeddedBroker, make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The record is in the producer's buffer when the wait times out: it is stored later, so
    "not published" would be a lie; the answer says the outcome is unknown."""
    settings = make_settings(kafka_bootstrap=own_broker.bootstrap)
    await ensure_topics(settings)
    options = {"publish_timeout_s": 0.5}
    kafka = {k: getattr(settings, k) for k in KAFKA}
    async with serving(
        sqlite_url, publisher_keys=PUBLISHER, app_options=options, **kafka
    ) as running:
        api = await connected(running)
        assert (await post(api, "before"))[0] == 202
        pause_pid(own_broker.process.pid)
        try:
            status, headers, problem = await post(api, "unsure")
        finally:
            resume_pid(own_broker.process.pid)
        assert status == 504, problem
        assert headers["content-type"] == "application/problem+json"
        assert headers["retry-after"] == "5"
        assert str(problem["type"]).endswith("publish-unconfirmed")
        detail = str(problem["detail"])
        assert "unknown" in detail and "safe" in detail and "duplicate" in detail
        assert await published(settings) == ["before", "unsure"]  # stored after all
        assert (await post(api, "unsure"))[0] == 202  # the retry: ingest keeps one of the two
    assert await published(settings) == ["before", "unsure", "unsure"]


async def test_a_record_never_handed_to_the_producer_is_503_not_published(
    own_broker: EmbeddedBroker, make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The topic appears after the producer started, so sending needs metadata first; with the
    broker frozen that wait is cancelled and nothing is left to go out later."""
    settings = make_settings(kafka_bootstrap=own_broker.bootstrap)
    options = {"publish_timeout_s": 0.5}
    kafka = {k: getattr(settings, k) for k in KAFKA}
    async with serving(
        sqlite_url, publisher_keys=PUBLISHER, app_options=options, **kafka
    ) as running:
        api = await connected(running)
        await ensure_topics(settings)
        pause_pid(own_broker.process.pid)
        try:
            status, headers, problem = await post(api, "lost")
        finally:
            resume_pid(own_broker.process.pid)
        assert status == 503 and headers["retry-after"] == "5", problem
        assert "not published" in str(problem["detail"])
        assert (await post(api, "after"))[0] == 202
    assert await published(settings) == ["after"]


async def test_the_unknown_outcome_is_documented(sqlite_url: str) -> None:
    async with serving(sqlite_url) as api:
        document = (await api.client.get("/openapi.json")).json()
    responses = document["paths"]["/v1/incidents"]["post"]["responses"]
    for status in ("503", "504"):
        assert "Retry-After" in responses[status]["headers"]
        assert "application/problem+json" in responses[status]["content"]
    assert "duplicate" in responses["504"]["description"]
    assert "413" in document["paths"]["/v1/alerts/{id}/ack"]["post"]["responses"]
