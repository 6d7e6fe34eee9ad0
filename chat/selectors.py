"""Reads of a person's conversations beyond the API's own pages: the whole lot, for an export."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from chat.models import Conversation, Message


def conversations_with_messages(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """The user's conversations, oldest first, each with its messages in order: two queries
    however many there are."""
    return (
        Conversation.objects.filter(user_id=user.pk)
        .order_by("created_at", "id")
        .prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("id")))
    )
