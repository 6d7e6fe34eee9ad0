"""Writes to conversations other than the chat pipeline's own: renaming and deleting, and
erasing everything a person said when their account is deleted."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from chat.models import Conversation, IdempotencyKey, RequestLog
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


@transaction.atomic
def user_erase(*, user: AbstractBaseUser) -> None:
    """Delete the person's conversations with their messages, and their idempotency records
    (which keep answers). The request log keeps its rows for operators, with the text and the
    client IP erased and the copied username set to the user's current (anonymised) one.

    Their memories are retrieval's to erase (`retrieval.services.user_erase`), all at once: an
    exchange being remembered meanwhile finds its conversation gone and is forgotten again
    (`chat.tasks`).
    """
    Conversation.objects.filter(user_id=user.pk).delete()
    IdempotencyKey.objects.filter(user_id=user.pk).delete()
    RequestLog.objects.filter(user_id=user.pk).update(
        request_text="", response_text="", client_ip=None, username=user.get_username()
    )
