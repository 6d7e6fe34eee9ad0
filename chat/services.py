"""Writes to conversations other than the chat pipeline's own: renaming and deleting."""

from __future__ import annotations

from django.db import transaction

from chat.models import Conversation
from retrieval import services as retrieval


@transaction.atomic
def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation, its messages and its memories. The ledger and the request log
    keep their rows."""
    retrieval.forget(user_id=conversation.user_id, conversation_id=conversation.pk)
    conversation.delete()
