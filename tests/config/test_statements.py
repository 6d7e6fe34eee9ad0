"""The hand-written hot-path reads (`config.statements`) read what the ORM queries they
replace read."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from accounts.models import User
from chat import context
from chat.models import Conversation, Message
from config import statements
from retrieval import selectors
from retrieval.models import IndexState, user_scope

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

    by_orm = (
        Message.objects.filter(conversation=conversation, status=Message.Status.OK)
        .order_by("-id")
        .values_list("role", "content")[:4]
    )
    assert [(m.role, m.content) for m in kept] == list(reversed(by_orm))
    assert [m.content for m in kept] == ["turn 3", "turn 4", "turn 6", "turn 7"]


def test_the_index_states_are_the_scopes_rows_by_scope(user: User) -> None:
    for scope, version in (("shared", 4), (user_scope(user.pk), 9), ("user-999", 2)):
        IndexState.objects.create(
            scope=scope, embedder="hashing", dim=384, version=version, stamp=f"s{version}"
        )

    found = selectors._states([user_scope(user.pk), "shared", "user-nobody"])

    def fields(state: IndexState) -> dict[str, Any]:
        return {name: getattr(state, name) for name in selectors._STATE_FIELDS}

    by_orm = IndexState.objects.filter(scope__in=[user_scope(user.pk), "shared"])
    assert [fields(s) for s in found] == [fields(s) for s in by_orm.order_by("scope")]
    assert [s.scope for s in found] == ["shared", user_scope(user.pk)]


def test_a_field_that_is_no_column_is_refused() -> None:
    with pytest.raises(ValueError, match="not a column"):
        statements.column(User, "groups")
    with pytest.raises(ValueError, match="not a column"):
        statements.column(User, "chunks")  # a reverse relation
