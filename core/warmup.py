"""Warming a worker up before it takes requests, so the first chat is as quick as the next.

On first use a worker imports the vendor SDK and builds its client, loads the shared index and
the catalog snapshot, and loads the URL configuration; done lazily, that second or so fell on
somebody's chat. `WARMUP` names the functions that do it (apps provide them; this module
imports none). `WarmUp` runs them when the server starts the worker (the ASGI lifespan
startup), not when the application is imported: an import (a test collecting modules, a
management command) must not touch the database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string

from core.body_limit import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


def warm() -> None:
    """Run every `WARMUP` function. One that fails (say, the database is not up yet) is
    logged and skipped: the worker still starts, and loads that part on first use."""
    started = time.perf_counter()
    for path in settings.WARMUP:
        try:
            import_string(path)()
        except Exception as exc:  # noqa: BLE001 - a cold start is not worth a dead worker
            log.warning("warm-up step %s failed: %s: %s", path, type(exc).__name__, exc)
    connections.close_all()  # this thread's; no request uses them
    log.info("worker warmed up in %.0f ms", (time.perf_counter() - started) * 1000)


def urls() -> None:
    """Load the URL configuration and every view module it names."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property loads them


class WarmUp:
    """ASGI middleware answering the lifespan protocol: at startup it runs `warm` in a thread
    (Django refuses database work on the event loop) and then freezes what it loaded for the
    garbage collector, as `config.asgi` does with the rest; the server sends requests only
    once that is done. Every other scope goes to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await asyncio.to_thread(warm)
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
