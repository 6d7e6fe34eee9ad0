"""How django-axes counts login failures here (settings `AXES_*` point at these functions).

One password, one policy: failures through `/api/login/` and `/admin/login/` are counted
together, so the API is no way around the admin's lockout. The API's own lockout answer is
its JSON 429 (`accounts.exceptions.LoginLockedOut`); only the admin gets axes' page.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.helpers import get_cool_off, get_lockout_message
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse

from core.client_ip import client_ip

ADMIN_PARAMETERS: list[str | list[str]] = ["ip_address", "username"]
API_PARAMETERS: list[str | list[str]] = [["username", "ip_address"]]


def client_address(request: HttpRequest) -> str | None:
    """The client IP as the throttles see it; None when it is not an address (axes stores it
    in an address column)."""
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None


def username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The attempted username, lower-cased: logins ignore case, so must the count."""
    value = (credentials or {}).get("username")
    if value is None:
        value = request.POST.get("username")
    return value.lower()[:255] if isinstance(value, str) else None


def lockout_parameters(request_or_attempt: Any, credentials: Any = None) -> list[str | list[str]]:
    """What a failure locks.

    The admin (a few staff accounts worth the most): the address after `AXES_FAILURE_LIMIT`
    failures of any name, and the name after as many failures from anywhere. The API: a
    name from one address only, so a stranger's failures lock neither the people behind a
    shared address nor a victim's account; the API's per-account rate limit
    (`THROTTLE_LOGIN_ACCOUNT`) bounds guessing one account from many addresses.
    """
    path = getattr(request_or_attempt, "path", None) or getattr(request_or_attempt, "path_info", "")
    return ADMIN_PARAMETERS if str(path).startswith(reverse("admin:index")) else API_PARAMETERS


def cooloff_seconds() -> int:
    cool_off = get_cool_off()
    return int(cool_off.total_seconds()) if cool_off else 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponseBase | None, credentials: Any = None
) -> HttpResponseBase:
    """The admin's lockout answer; an API request keeps the JSON 429 its view already gave."""
    if request.path.startswith("/api/") and isinstance(original_response, HttpResponseBase):
        return original_response
    response = HttpResponse(get_lockout_message(), status=429, content_type="text/plain")
    response["Retry-After"] = str(cooloff_seconds())
    return response
