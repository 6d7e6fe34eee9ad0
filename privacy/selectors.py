"""A person's data as one document: each app reads its own part, in a fixed number of queries
however much there is."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import User
from billing.selectors import balance_of, ledger_of
from chat.selectors import conversations_with_messages
from orders.selectors import order_summary, orders_of
from retrieval.selectors import documents_of

EXPORT_FORMAT = "tally-export/1"


def export_of(*, user: User) -> dict[str, Any]:
    """What `privacy.serializers.ExportOutput` shows: profile, conversations with their
    messages, documents' metadata, orders with their lines, and the ledger, oldest first."""
    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "profile": {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_staff": user.is_staff,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
            "tokens": balance_of(user=user),
        },
        "conversations": list(conversations_with_messages(user=user)),
        "documents": list(documents_of(user=user)),
        "orders": [order_summary(order) for order in orders_of(user=user).order_by("id")],
        "ledger": list(ledger_of(user=user).order_by("id")),
    }
