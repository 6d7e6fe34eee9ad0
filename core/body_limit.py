"""`BodyLimit`: request bodies over their limit are refused with 413 before they are read.

Django's ASGI handler reads a whole body into a temporary file before any view, throttle or
authentication sees the request, so a limit checked later still lets anyone upload gigabytes.
This wraps the ASGI application and counts bytes as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.urls import reverse

Scope = dict[str, Any]
Message = dict[str, Any]
# Loose on purpose: Django's handler and uvicorn each spell the message types their own way.
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Room for the multipart framing and the form's other fields around an uploaded file.
MULTIPART_SLACK = 64 * 1024
# How long, and how much, a refused body is drained so that the client reads the 413.
LINGER_S = 2.0
LINGER_BYTES = 8 * 1024 * 1024


def limit_for(scope: Scope) -> tuple[int, dict[str, str]]:
    """The body limit of this request, and the error body that refuses it."""
    if scope.get("method") == "POST" and scope.get("path") == reverse("documents"):
        upload_limit = settings.MAX_UPLOAD_BYTES
        # The same answer as the upload view gives for a file over the limit.
        return upload_limit + MULTIPART_SLACK, {
            "detail": f"The upload exceeds the limit of {upload_limit} bytes.",
            "code": "too_large",
        }
    limit = settings.MAX_REQUEST_BYTES
    return limit, {
        "detail": f"The request body exceeds the limit of {limit} bytes.",
        "code": "request_too_large",
    }


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(receive: Receive, send: Send, body: dict[str, str]) -> None:
    """Answer 413, then read and drop what the client still sends, for a while.

    Closing a connection with unread data makes the kernel reset it, and a client that is
    still sending then loses the 413 it had not read yet (it sees "connection reset"). So,
    as nginx's lingering close does, the rest is drained (never stored) until the client
    stops, or `LINGER_S` or `LINGER_BYTES` run out, before the final empty body closes it.
    """
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                # The rest of the body is never read, so the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": True})
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_S):
            while drained < LINGER_BYTES:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
                drained += len(message.get("body", b""))
    await send({"type": "http.response.body", "body": b""})


class BodyLimit:
    """ASGI middleware: a declared `Content-Length` over the limit is refused at once; a
    chunked (or understated) body as soon as the bytes received pass it.

    The application is then told the client disconnected (Django drops the request quietly),
    and anything it still sends is dropped: the 413 has gone out in its place.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, refusal = limit_for(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(receive, send, refusal)
            return
        received = 0
        refused = started = False

        async def guarded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(receive, send, refusal)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)
