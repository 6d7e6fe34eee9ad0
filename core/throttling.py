"""Rate limits whose rate is a setting, read at request time (DRF reads its own rates once, at
import, so a changed setting would not apply)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class SettingRateThrottle(SimpleRateThrottle):
    """`rate_setting`'s rate (e.g. "30/min"), counted on the default cache, which every worker
    of a machine shares; subclasses say whom a request counts against (`get_cache_key`)."""

    rate_setting: str = ""

    def get_rate(self) -> str:
        return str(getattr(settings, self.rate_setting))

    def key_for(self, ident: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerUserThrottle(SettingRateThrottle):
    """Counted per authenticated user."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.key_for(request.user.pk)
