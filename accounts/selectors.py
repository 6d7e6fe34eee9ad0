"""Reads of the accounts app."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, User


def api_tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """The user's live API tokens, newest first (knox deletes expired ones when it sees them)."""
    live = Q(expiry__isnull=True) | Q(expiry__gt=timezone.now())
    return ApiToken.objects.filter(live, user=user).order_by("-created", "-id")


def api_token_live(*, token_id: int) -> bool:
    """Whether the token is still good: not revoked, not expired, its user still active (for
    connections that outlive the request that authenticated them, like a WebSocket)."""
    live = Q(expiry__isnull=True) | Q(expiry__gt=timezone.now())
    return ApiToken.objects.filter(live, pk=token_id, user__is_active=True).exists()
