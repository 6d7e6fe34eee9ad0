"""Server-Sent Events for streamed chats, and the bridge that makes them stream under ASGI.

Django buffers a *synchronous* iterator completely before an ASGI server sees a byte, so under
ASGI the chat's (synchronous) event stream runs in a thread of its own and hands each event to
the event loop as it is produced. That thread also keeps going when the client disconnects, so
the answer a user paid for is always stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from django.db import connections
from django.http import StreamingHttpResponse

log = logging.getLogger(__name__)

_END = object()
T = TypeVar("T")


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def in_thread(events: Iterator[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterator in its own thread, yielding each item as soon as it exists."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def hand_over(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (server shutting down); keep producing
            pass

    def produce() -> None:
        try:
            for item in events:
                hand_over(item)
        except Exception:
            log.exception("streamed chat failed")
        finally:
            connections.close_all()  # this thread's own database connections
            hand_over(_END)

    threading.Thread(target=produce, name="chat-stream", daemon=True).start()
    while (item := await queue.get()) is not _END:
        yield item  # type: ignore[misc]


def event_stream(content: Iterator[bytes] | AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A `text/event-stream` response that proxies pass through as it is written."""
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through, do not buffer
    return response
