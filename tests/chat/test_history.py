"""The history a chat turn sends: the conversation's newest answered messages, oldest first."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import User
from chat import context
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_the_history_is_the_newest_answered_messages_of_the_conversation(user: User) -> None:
    conversation = Conversation.objects.create(user=user, title="long")
    other = Conversation.objects.create(user=user, title="other")
    for number in range(8):
        status = Message.Status.FAILED if number == 5 else Message.Status.OK
        role = Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT
        Message.objects.create(
            conversation=conversation, role=role, content=f"turn {number}", status=status
        )
        Message.objects.create(conversation=other, role=role, content=f"elsewhere {number}")

    with override_settings(CHAT_HISTORY_MESSAGES=4):
        kept = context.history(conversation.pk)

    assert [(m.role, m.content) for m in kept] == [
        ("assistant", "turn 3"),
        ("user", "turn 4"),
        ("user", "turn 6"),
        ("assistant", "turn 7"),
    ]
    assert context.history(None) == []
