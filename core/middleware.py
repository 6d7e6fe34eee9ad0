"""`SyncChain`: the middleware stack runs in the request's thread, not hop by hop.

Under ASGI, Django runs a middleware that can be either sync or async (all of its own) as
async, and calls each of its sync hooks through `sync_to_async`: every `process_request` and
`process_response` moves to the request's thread and back. With this project's stack that was
16 moves a request. A middleware that is sync only makes Django run the ones listed before it
(the outer ones) synchronously too, so listed last it leaves 6: the view, the render, the
signals and the close that Django's ASGI handler always moves. Each move is a thread switch,
a visible share of a cheap request's CPU.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


class SyncChain:
    """Sync only, and otherwise a pass-through; must be the last entry of `MIDDLEWARE`."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)
