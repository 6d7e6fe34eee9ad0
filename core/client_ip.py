"""The client's IP address, believing `X-Forwarded-For` only as far as `TRUSTED_PROXIES` says."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def well_formed(value: str) -> str:
    """``value`` as a normalised IP address, or "" when it is not one."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def client_ip(request: HttpRequest) -> str:
    """The socket address, or the address the outermost trusted proxy saw; "" if unknown.

    With N trusted proxies, each appends the address it received from to X-Forwarded-For, so
    the Nth entry from the right is the last one a trusted machine wrote; anything left of it
    is whatever the client claimed and may be forged.

    Only a well-formed address is returned: it becomes a throttle key and is stored in a
    `GenericIPAddressField` (PostgreSQL refuses anything else). A malformed trusted hop (a
    misconfigured proxy, or fewer proxies than `TRUSTED_PROXIES` so the client wrote it) falls
    back to the socket address: a fixed key per proxy, so throttles get stricter rather than
    letting rotating garbage open a fresh bucket each time.
    """
    remote = well_formed(request.META.get("REMOTE_ADDR", "") or "")
    trusted = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return well_formed(hops[-min(trusted, len(hops))]) or remote
