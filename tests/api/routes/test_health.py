"""/healthz, /readyz (and which dependency failed), /metrics by route template."""

from __future__ import annotations

from services.core.broker import free_port
from tests.api.conftest import Api, serving


async def test_health_and_ready(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True


async def test_unready_names_what_failed(sqlite_url: str) -> None:
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    async with serving(sqlite_url, kafka_bootstrap=closed) as api:
        response = await api.client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True and checks["kafka"]["ok"] is False


async def test_unready_without_a_database(tmp_path: object) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"  # a port nobody serves
    async with serving(url) as api:
        ready = await api.client.get("/readyz")
        picture = await api.client.get("/v1/picture")
        incidents = await api.client.get("/v1/incidents")
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
    assert (
        picture.status_code == 503 and picture.headers["content-type"] == "application/problem+json"
    )
    assert incidents.status_code == 503


async def test_metrics_use_route_templates(api: Api) -> None:
    await api.client.get("/v1/provinces/KPK")
    await api.client.get("/v1/provinces/Narnia")
    await api.client.get("/no/such/thing")
    registry = api.context.metrics.registry

    def count(route: str, status: str, method: str = "GET") -> float | None:
        labels = {"route": route, "method": method, "status": status}
        return registry.get_sample_value("surgewatch_http_requests_total", labels)

    assert count("/v1/provinces/{code}", "200") == 1
    assert count("/v1/provinces/{code}", "404") == 1
    assert count("unmatched", "404") == 1
    assert count("/v1/incidents", "202", "POST") == 0  # created up front, at zero
    assert count("/v1/alerts/{id}/ack", "200", "POST") == 0
    text = (await api.client.get("/metrics")).text
    assert "surgewatch_http_request_duration_seconds_bucket" in text
    assert "/v1/provinces/KPK" not in text
