"""Retrieval as the chat's context source (wired in `chat.context`): the answer names
the document it used, and one user's past chats never reach another user's prompt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chat import context as chat_context
from retrieval import services
from tests.conftest import client_for
from tests.retrieval.conftest import upload

pytestmark = pytest.mark.django_db


def test_a_chat_answer_lists_the_shared_document_it_used(
    user_api: APIClient, staff_api: APIClient
) -> None:
    upload(
        staff_api,
        "Opening hours.txt",
        "We are open from noon until midnight, Tuesday to Sunday. We are closed on Mondays.",
        shared="true",
    )

    body = user_api.post(
        "/api/chat/", {"message": "Are you open on Mondays?"}, format="json"
    ).json()

    assert {"source": "Opening hours", "kind": "document"}.items() <= body["sources"][0].items()


def test_chat_context_never_holds_another_users_past_chats_or_documents(
    user: User, make_user: Callable[..., User]
) -> None:
    bob = make_user("bob")
    services.remember(
        user_id=bob.pk, conversation_id=1, question="What's my locker code?", answer="It is 4242."
    )
    upload(client_for(bob), "bob.txt", "Bob's locker code is 4242, written on a napkin.")
    services.remember(
        user_id=user.pk, conversation_id=2, question="Where is my locker?", answer="By the door."
    )

    prompt = chat_context.build(user=user, conversation_id=None, text="my locker code").prompt
    bobs = chat_context.build(user=bob, conversation_id=None, text="my locker code").prompt

    assert [p.text for p in prompt.passages] == ["Q: Where is my locker?\nA: By the door."]
    assert all("4242" not in p.text for p in prompt.passages)
    assert sum("4242" in p.text for p in bobs.passages) == 2
