"""Which chat WebSockets are open, per user, across every worker and machine: the limit
`WS_MAX_SOCKETS_PER_USER` is counted in the database, the one thing they all share.

Each open socket is a `LiveSocket` row its worker refreshes every `WS_HEARTBEAT_S`; a row
not refreshed for three heartbeats belongs to a worker that died without closing it, and
neither counts nor survives the user's next connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from chat.models import LiveSocket


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=3 * settings.WS_HEARTBEAT_S)


def socket_open(*, user: AbstractBaseUser, channel_name: str) -> bool:
    """Count a new socket of ``user``'s; ``False`` (and no row left) when they have
    `WS_MAX_SOCKETS_PER_USER` open already.

    No lock: the socket's row goes in first, then counts the rows before it (lower ids). Of
    two sockets racing for the last place the later one sees the earlier and gives way; a
    lock on the user's row instead would queue behind every chat inserting a row that
    refers to the user.
    """
    LiveSocket.objects.filter(user_id=user.pk, seen_at__lt=_stale_before()).delete()
    mine = LiveSocket.objects.create(
        user_id=user.pk, channel_name=channel_name, seen_at=timezone.now()
    )
    ahead = LiveSocket.objects.filter(user_id=user.pk, id__lt=mine.pk).count()
    if ahead >= settings.WS_MAX_SOCKETS_PER_USER:
        mine.delete()
        return False
    return True


def socket_seen(*, channel_name: str) -> None:
    LiveSocket.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def socket_closed(*, channel_name: str) -> None:
    LiveSocket.objects.filter(channel_name=channel_name).delete()
