"""The history given to the model is cut to `CHAT_HISTORY_TOKEN_BUDGET` as the turn's own
provider counts tokens."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chat import context
from chat.models import Conversation, Message
from providers import registry
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

# 15 bytes: 8 tokens to the offline assistant (one per letter), 4 by the vendors' estimate.
TEXT = "a b c d e f g h"


def _conversation(user: User, messages: int) -> Conversation:
    conversation = Conversation.objects.create(user=user, title="long")
    for number in range(messages):
        role = Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT
        Message.objects.create(conversation=conversation, role=role, content=TEXT)
    return conversation


def test_each_provider_keeps_as_many_messages_as_its_own_counter_allows(
    user: User, settings: Any
) -> None:
    settings.OPENAI_API_KEY = "sk-test"  # configured; nothing is sent
    settings.CHAT_HISTORY_TOKEN_BUDGET = 20
    conversation = _conversation(user, 6)

    local = context.history(conversation.pk, "local")
    openai = context.history(conversation.pk, "openai")

    assert registry.get("local").count_tokens(TEXT) == 8
    assert registry.get("openai").count_tokens(TEXT) == 4
    assert len(local) == 2  # 16 of 20; a third would make 24
    assert len(openai) == 5  # exactly 20
    assert [m.content for m in openai] == [TEXT] * 5


def test_a_turn_budgets_its_history_with_the_provider_it_asks(
    user: User, user_api: APIClient, openai_model: FakeOpenAI, settings: Any
) -> None:
    settings.LLM_PROVIDER = "local"  # the deployment's default counts differently
    settings.CHAT_HISTORY_TOKEN_BUDGET = 20
    conversation = _conversation(user, 6)
    openai_model.enqueue(Reply.answer("Noted."))

    response = user_api.post(
        "/api/chat/",
        {"message": "and now?", "conversation": conversation.pk, "provider": "openai"},
        format="json",
    )

    assert response.status_code == 200, response.content
    sent = openai_model.chat_requests()[-1].json["messages"]
    said = [m["content"] for m in sent if m["role"] in ("user", "assistant")]
    assert said == [TEXT] * 5 + ["and now?"]
