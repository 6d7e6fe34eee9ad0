"""Content negotiation that never answers 406: an `Accept` header no renderer satisfies gets
the view's first format (JSON), as RFC 9110 §12.5.1 allows, rather than an error the OpenAPI
document would have to list for every operation. The chat's `Accept: text/event-stream`
relies on it: the stream bypasses renderers, and what is answered before it starts (a 402,
a 400) is JSON."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FirstRendererWhenUnsatisfied(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        options = list(renderers)
        try:
            return super().select_renderer(request, options, format_suffix)
        except NotAcceptable:
            return options[0], options[0].media_type
