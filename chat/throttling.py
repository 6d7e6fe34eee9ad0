"""The per-user chat rate limit. The ledger, not this, is the real quota."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class ChatRateThrottle(SimpleRateThrottle):
    """`THROTTLE_CHAT` requests per user (the cache is shared across workers with Redis)."""

    scope = "chat"

    def get_rate(self) -> str:
        return str(settings.THROTTLE_CHAT)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
