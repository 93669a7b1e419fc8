"""POST /v1/incidents against the real broker: 202 and on the topic, or a clear refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.core.events import Incident, RawMessage, Retraction
from services.core.gazetteer import load_gazetteer
from services.core.kafka import client_options
from services.core.parse import parse
from services.core.settings import Settings
from tests.api.conftest import Api, serving

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


@pytest.fixture
async def gateway_api(topics: Settings, sqlite_url: str) -> AsyncIterator[Api]:
    overrides = {
        k: getattr(topics, k)
        for k in (
            "kafka_bootstrap",
            "topic_incidents",
            "topic_accepted",
            "topic_dlq",
            "topic_alerts",
        )
    }
    async with serving(sqlite_url, publisher_keys=PUBLISHER, **overrides) as api:
        for _ in range(100):
            if api.context.gateway.producer is not None:
                break
            await asyncio.sleep(0.1)
        assert api.context.gateway.producer is not None, "the producer never connected"
        yield api


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
