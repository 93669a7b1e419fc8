"""The api's metrics, on its own registry, and the ASGI middleware that records them.

`route` is the route template (`/v1/provinces/{code}`), never the raw path, so a scan of random
URLs cannot blow up the series count; requests that match no route are `unmatched`. Beside the
contract's HTTP series: the event streams open now, and those dropped for not reading.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
LABELS = ("route", "method", "status")


class ApiMetrics:
    """`surgewatch_http_requests_total`, `surgewatch_http_request_duration_seconds`, and the
    event streams' `surgewatch_api_sse_clients` and `surgewatch_api_sse_dropped_total`."""

    def __init__(self, routes: Iterable[tuple[str, str, int]] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "surgewatch_http_requests",
            "HTTP requests answered, by route template, method and status",
            LABELS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "surgewatch_http_request_duration_seconds",
            "Time to answer an HTTP request (a stream counts until it closes)",
            LABELS,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "surgewatch_api_sse_clients",
            "Server-Sent Event streams open now",
            registry=self.registry,
        )
        self.sse_dropped = Counter(
            "surgewatch_api_sse_dropped",
            "Event streams closed by the api because the client took no write within the send "
            "timeout (it reconnects with Last-Event-ID and misses nothing)",
            registry=self.registry,
        )
        # `labels()` validates and locks on every call: each series' children are looked up
        # once. Bounded like the series themselves (route templates, the server's methods).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        for route, method, status in routes:
            self._series(route, method, status)

    def _series(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = self.requests.labels(*labels), self.duration.labels(*labels)
            self._children[key] = children
        return children

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        requests, duration = self._series(route, method, status)
        requests.inc()
        duration.observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request by the template of the route that served it."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            elapsed = time.perf_counter() - started
            self.metrics.observe(route, scope["method"], status, elapsed)
