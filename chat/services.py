"""Writes to conversations other than the chat pipeline's own: renaming and deleting."""

from __future__ import annotations

from django.db import transaction

from chat.models import Conversation


@transaction.atomic
def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation and its messages. The ledger and the request log keep their rows."""
    conversation.delete()
