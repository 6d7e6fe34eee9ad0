"""The client's IP address, believing `X-Forwarded-For` only as far as `TRUSTED_PROXIES` says."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The socket address, or the address the outermost trusted proxy saw.

    With N trusted proxies, each appends the address it received from to X-Forwarded-For, so
    the Nth entry from the right is the last one a trusted machine wrote; anything left of it
    is whatever the client claimed and may be forged.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(trusted, len(hops))]
