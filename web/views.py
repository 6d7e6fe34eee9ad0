"""The single page at `/`; everything else it shows comes from the REST API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

# The page keeps its API token in localStorage, so it must never run a script it did not ship:
# no inline code, nothing from another origin (the favicon is an empty data: URL).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    response = render(request, "web/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
