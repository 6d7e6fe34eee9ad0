"""How many chats this worker has in flight, and the clean refusal past `MAX_INFLIGHT_CHATS`.

A chat in flight is mostly a thread waiting on the model: cheap, but not free (memory, the
model's connection, a share of the CPU when it answers). Past the limit a new chat gets 503
with `Retry-After` before anything is charged, while the ones in flight finish.
"""

from __future__ import annotations

import threading

from django.conf import settings

from core.errors import ServiceUnavailable

_lock = threading.Lock()
_in_flight = 0


class Slot:
    """One chat's place; `release` gives it back (once, however often it is called)."""

    def __init__(self) -> None:
        self._held = True

    def release(self) -> None:
        global _in_flight
        with _lock:
            if self._held:
                self._held = False
                _in_flight -= 1


def take() -> Slot:
    """A place for one more chat, or `ServiceUnavailable` (503 `overloaded`) when full."""
    global _in_flight
    with _lock:
        if _in_flight >= settings.MAX_INFLIGHT_CHATS:
            raise ServiceUnavailable(
                "This server has as many chats in flight as it can hold; try again shortly.",
                code="overloaded",
                retry_after=settings.OVERLOAD_RETRY_AFTER_S,
            )
        _in_flight += 1
    return Slot()
