"""The per-user chat rate limit. The ledger, not this, is the real quota."""

from __future__ import annotations

from core.throttling import PerUserThrottle


class ChatRateThrottle(PerUserThrottle):
    """`THROTTLE_CHAT` chats per user."""

    scope = "chat"
    rate_setting = "THROTTLE_CHAT"
