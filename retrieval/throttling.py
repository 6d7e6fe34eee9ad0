"""Per-user limits on uploads and searches (each costs extraction or embedding work)."""

from __future__ import annotations

from core.throttling import PerUserThrottle


class UploadRateThrottle(PerUserThrottle):
    """`THROTTLE_UPLOAD` document uploads per user."""

    scope = "upload"
    rate_setting = "THROTTLE_UPLOAD"


class SearchRateThrottle(PerUserThrottle):
    """`THROTTLE_SEARCH` searches per user."""

    scope = "search"
    rate_setting = "THROTTLE_SEARCH"
