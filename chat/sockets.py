"""Which chat WebSockets are open, per user, across every worker and machine: the limit
`WS_MAX_SOCKETS_PER_USER` is counted in the database, the one thing they all share.

Each open socket is a `LiveSocket` row its worker refreshes every `WS_HEARTBEAT_S`; a row
not refreshed for three heartbeats belongs to a worker that died without closing it, and
neither counts nor survives the user's next connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat.models import LiveSocket


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=3 * settings.WS_HEARTBEAT_S)


def socket_open(*, user: AbstractBaseUser, channel_name: str) -> bool:
    """Count a new socket of ``user``'s; ``False`` (nothing written) when they have
    `WS_MAX_SOCKETS_PER_USER` open already."""
    with transaction.atomic():
        # One user's connections queue here, so two at once cannot both take the last place
        # (SQLite's BEGIN IMMEDIATE already serializes writers).
        get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
        LiveSocket.objects.filter(user_id=user.pk, seen_at__lt=_stale_before()).delete()
        if LiveSocket.objects.filter(user_id=user.pk).count() >= settings.WS_MAX_SOCKETS_PER_USER:
            return False
        LiveSocket.objects.create(
            user_id=user.pk, channel_name=channel_name, seen_at=timezone.now()
        )
    return True


def socket_seen(*, channel_name: str) -> None:
    LiveSocket.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def socket_closed(*, channel_name: str) -> None:
    LiveSocket.objects.filter(channel_name=channel_name).delete()
