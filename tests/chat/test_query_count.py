"""What one chat costs in SQL: a fixed number of statements, however long the history.

Counted on the request's own connection with the memory of the exchange left to the
background thread, as a server runs it (`core.tasks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Conversation, Message
from core import tasks
from retrieval import services as retrieval
from retrieval.models import Chunk
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

# The budget for a chat, transaction control aside: 12, and since retrieval became
# hybrid, one for the full-text ranking and one for the memories a search catches up on.
MAX_QUERIES = 14
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")


@pytest.fixture(autouse=True)
def _background_memory(settings: Any) -> None:
    settings.TASKS = {**settings.TASKS, "background": {"BACKEND": "core.tasks.BackgroundBackend"}}
    call_command("load_demo", verbosity=0)


def _chat(api: APIClient, **body: Any) -> tuple[dict[str, Any], list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = api.post(
            "/api/chat/", {"message": "How long does delivery take?", **body}, format="json"
        )
    assert response.status_code == 200, response.content
    tasks.drain(timeout=10)
    return response.json(), [query["sql"] for query in captured.captured_queries]


def _queries(statements: list[str]) -> list[str]:
    return [sql for sql in statements if not sql.startswith(TRANSACTION_CONTROL)]


def _conversation_with(user: User, messages: int) -> int:
    conversation = Conversation.objects.create(user=user, title="long")
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role=Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT,
            content=f"Message {n} about pizza toppings and delivery times.",
            status=Message.Status.OK,
        )
        for n in range(messages)
    )
    return conversation.pk


def test_a_new_chat_and_a_follow_up_stay_within_the_query_budget(
    make_user: Callable[..., User],
) -> None:
    api = client_for(make_user())
    _chat(api)  # warm: the shared index and the catalog snapshot are loaded once per process

    first, new_chat = _chat(api)
    _, follow_up = _chat(api, conversation=first["conversation"])

    assert len(_queries(new_chat)) <= MAX_QUERIES, "\n".join(new_chat)
    assert len(_queries(follow_up)) <= MAX_QUERIES, "\n".join(follow_up)
    # Two short write transactions: the charge with the question, the answer with its log.
    assert sum(sql.startswith("BEGIN") for sql in follow_up) <= 2
    assert not any(sql.startswith(("SAVEPOINT", "RELEASE")) for sql in follow_up)


def test_the_query_count_does_not_grow_with_the_history(make_user: Callable[..., User]) -> None:
    user = make_user()
    api = client_for(user)
    short, long = _conversation_with(user, 4), _conversation_with(user, 200)
    _chat(api, conversation=short)

    _, with_short = _chat(api, conversation=short)
    _, with_long = _chat(api, conversation=long)

    assert len(with_long) == len(with_short)


def test_a_conversation_crowded_with_its_own_memories_costs_no_more_queries(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    api = client_for(user)
    fresh, crowded = _conversation_with(user, 4), _conversation_with(user, 4)
    for n in range(40):  # each scores above everything else, and is left out of the context
        retrieval.remember(
            user_id=user.pk,
            conversation_id=crowded,
            question="How long does delivery take?",
            answer=f"About {n + 20} minutes.",
        )
    _chat(api, conversation=fresh)

    _, with_fresh = _chat(api, conversation=fresh)
    _, with_crowded = _chat(api, conversation=crowded)

    assert len(with_crowded) == len(with_fresh)


def test_the_exchange_is_remembered_off_the_request_on_the_background_thread(
    make_user: Callable[..., User],
) -> None:
    user = make_user()
    api = client_for(user)

    answer, statements = _chat(api, message="My locker code is 4242, remember it.")

    writes = [sql for sql in statements if sql.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert not any("retrieval_" in sql for sql in writes)  # not the request's work
    remembered = Chunk.objects.filter(owner_id=user.pk, kind=Chunk.Kind.MEMORY)
    assert [chunk.conversation_id for chunk in remembered] == [answer["conversation"]]
    assert "4242" in remembered.get().text
