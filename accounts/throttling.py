"""Per-IP limits on the unauthenticated endpoints (register, login)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from config.client_ip import client_ip


class AuthRateThrottle(SimpleRateThrottle):
    """`THROTTLE_AUTH` per client IP, whoever the request claims to be."""

    scope = "auth"

    def get_rate(self) -> str:
        # Read at request time (DRF reads rates once at import), so settings overrides apply.
        return str(settings.THROTTLE_AUTH)

    def get_ident(self, request: Request) -> str:
        return client_ip(request)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
