"""The app-wide body limit, on small ASGI apps that read bodies the ways routes do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
from starlette.types import Message, Receive, Scope, Send

from services.api.body_limit import BodyLimitMiddleware, declared_length, framed_within

LIMIT = 100


async def answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def read_all(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body first, as FastAPI does for a `Body()` parameter."""
    await answer(send, 200, str(len(await read_all(receive))).encode())


async def says_400_on_errors(scope: Scope, receive: Receive, send: Send) -> None:
    """Turns any error while reading into its own answer, as FastAPI's body parsing does."""
    try:
        await read_all(receive)
    except Exception:
        await answer(send, 400, b"There was an error parsing the body")
        return
    await answer(send, 200, b"ok")


async def refuses_first(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 401 without reading the body, as a route that checks its key first."""
    await answer(send, 401, b"no key")


def client(app: object, calls: list[Message] | None = None) -> httpx.AsyncClient:
    limited = BodyLimitMiddleware(app, limit=LIMIT)  # type: ignore[arg-type]

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:  # what the middleware takes from the server
            message = await receive()
            if calls is not None:
                calls.append(message)
            return message

        await limited(scope, counted, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://t")


async def chunks(total: int, size: int = 30) -> AsyncIterator[bytes]:
    for start in range(0, total, size):  # no Content-Length: Transfer-Encoding chunked
        yield b"x" * min(size, total - start)


async def test_bodies_up_to_the_limit_pass_and_beyond_it_are_413_problems() -> None:
    async with client(echo_length) as c:
        assert (await c.post("/", content=b"x" * LIMIT)).text == str(LIMIT)
        assert (await c.post("/", content=chunks(LIMIT))).text == str(LIMIT)
        assert (await c.get("/")).text == "0"
        for over in (b"x" * (LIMIT + 1), chunks(LIMIT + 1), chunks(10 * LIMIT)):
            response = await c.post("/ack", content=over)
            assert response.status_code == 413
            assert response.headers["content-type"] == "application/problem+json"
            problem = orjson.loads(response.content)
            assert problem["status"] == 413 and problem["instance"] == "/ack"
            assert problem["reason"] == "too_large" and str(LIMIT) in problem["detail"]


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    calls: list[Message] = []
    async with client(echo_length, calls) as c:
        response = await c.post("/", content=b"x" * 100_000)
    assert response.status_code == 413
    assert calls == [], "the middleware took nothing of the body from the server"


async def test_what_the_app_makes_of_the_error_is_replaced_by_the_413() -> None:
    async with client(says_400_on_errors) as c:
        assert (await c.post("/", content=chunks(LIMIT + 1))).status_code == 413
        assert (await c.post("/", content=b"x" * 500)).status_code == 413
        assert (await c.post("/", content=b"x" * 5)).status_code == 200


async def test_an_app_that_answers_without_reading_is_not_overruled() -> None:
    """A key check comes first: the unauthenticated client gets its 401, whatever it sends."""
    async with client(refuses_first) as c:
        assert (await c.post("/", content=b"x" * 100_000)).status_code == 401
        assert (await c.post("/", content=chunks(10 * LIMIT))).status_code == 401


def test_declared_length() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> Scope:
        return {"type": "http", "headers": list(headers)}

    assert declared_length(scope((b"content-length", b"42"))) == 42
    assert declared_length(scope((b"Content-Length", b" 7 "))) == 7
    assert declared_length(scope((b"content-length", b"-1"))) is None
    assert declared_length(scope((b"content-length", b"lots"))) is None
    assert declared_length(scope((b"transfer-encoding", b"chunked"))) is None


def test_framed_within() -> None:
    """Only framing that bounds the body lets a request through unwatched."""

    def scope(version: str, *headers: tuple[bytes, bytes]) -> Scope:
        return {"type": "http", "http_version": version, "headers": list(headers)}

    assert framed_within(scope("1.1"), LIMIT)  # no length, no chunks: no body
    assert framed_within(scope("1.0", (b"host", b"x")), LIMIT)
    assert framed_within(scope("1.1", (b"Content-Length", b"100")), LIMIT)
    assert not framed_within(scope("1.1", (b"content-length", b"101")), LIMIT)
    assert not framed_within(scope("1.1", (b"content-length", b"lots")), LIMIT)
    assert not framed_within(scope("1.1", (b"transfer-encoding", b"chunked")), LIMIT)
    both = ((b"content-length", b"5"), (b"Transfer-Encoding", b"chunked"))
    assert not framed_within(scope("1.1", *both), LIMIT)
    assert not framed_within(scope("2"), LIMIT)  # HTTP/2 may send a body it never declared


async def test_an_undeclared_body_over_http2_is_still_counted() -> None:
    sent: list[Message] = []
    parts = [b"x" * 60, b"x" * 60, b""]

    async def receive() -> Message:
        body = parts.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(parts)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "http_version": "2",
        "method": "POST",
        "path": "/",
        "headers": [],
    }
    await BodyLimitMiddleware(echo_length, limit=LIMIT)(scope, receive, send)
    assert sent[0]["status"] == 413
