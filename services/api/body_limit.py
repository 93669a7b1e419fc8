"""Request bodies are bounded app-wide: past `limit` bytes the answer is 413 problem+json.

A pure ASGI middleware, so it sees the body before FastAPI or any route buffers it:
- a declared `Content-Length` over the limit is refused the moment the app first asks for the
  body, before a byte of it is read (so a client announcing 48 MiB and sending a dozen bytes is
  answered at once, not waited for). Routes check keys before they read, so an unauthenticated
  client still gets its 401 and learns nothing about sizes;
- a body without a length (chunked) is counted as it arrives and refused once it passes the
  limit, whatever the route was doing with it.
The server discards whatever of the body still arrives (a closed connection would lose the 413
for a client still sending).

A request whose framing already bounds its body (HTTP/1.x, no Transfer-Encoding, a Content-Length
within the limit or none at all, which means no body) passes through untouched: most requests are
GETs, and wrapping each one's receive and send cost the polled routes a few percent.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import MEDIA_TYPE, problem_body


class BodyTooLarge(Exception):
    """Raised into the app when the body passes the limit; the middleware answers 413."""


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when it has none (or an unreadable one)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() else None
    return None


def framed_within(scope: Scope, limit: int) -> bool:
    """Whether the server's framing alone keeps the body within `limit` bytes (RFC 9112 §6:
    without Transfer-Encoding the body is exactly Content-Length bytes, or empty without it)."""
    if scope.get("http_version") not in ("1.0", "1.1"):
        return False  # HTTP/2 and 3 may send a body without declaring its length
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"transfer-encoding":
            return False
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit() or int(text) > limit:
                return False
    return True


class BodyLimitMiddleware:
    """Answers 413 for any request whose body is (or is declared) over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or framed_within(scope, self.limit):
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if declared is not None and declared > self.limit:
                exceeded = True
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app made of the error (FastAPI says 400): ours goes out
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = orjson.dumps(
            problem_body(
                413,
                f"the request body is over {self.limit} bytes",
                scope.get("path", ""),
                kind="too-large",
                reason="too_large",
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
