"""Per-user limits on uploads and searches (each costs extraction or embedding work)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class UploadRateThrottle(SimpleRateThrottle):
    """`THROTTLE_UPLOAD` document uploads per user, counted on the shared default cache."""

    scope = "upload"

    def get_rate(self) -> str:
        # Read at request time (DRF reads rates once at import), so settings overrides apply.
        return str(settings.THROTTLE_UPLOAD)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class SearchRateThrottle(SimpleRateThrottle):
    """`THROTTLE_SEARCH` searches per user."""

    scope = "search"

    def get_rate(self) -> str:
        return str(settings.THROTTLE_SEARCH)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
