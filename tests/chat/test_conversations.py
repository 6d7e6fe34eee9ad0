"""The conversations API: each user sees, renames and deletes only their own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry
from chat.models import Message
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def start(api: APIClient, message: str) -> int:
    return api.post("/api/chat/", {"message": message}, format="json").json()["conversation"]


def test_the_list_shows_only_my_conversations_most_recent_first(
    user_api: APIClient, make_user: Callable[..., User]
):
    older = start(user_api, "first topic")
    newer = start(user_api, "second topic")
    start(client_for(make_user("mallory")), "not yours")

    body = user_api.get("/api/conversations/").json()

    assert body["count"] == 2
    assert [c["id"] for c in body["results"]] == [newer, older]
    assert set(body["results"][0]) == {"id", "title", "created_at", "updated_at"}


def test_another_users_conversation_is_404_on_every_method(
    user_api: APIClient, make_user: Callable[..., User]
):
    theirs = start(client_for(make_user("mallory")), "private")
    url = f"/api/conversations/{theirs}/"

    assert user_api.get(url).status_code == 404
    assert user_api.patch(url, {"title": "mine now"}, format="json").status_code == 404
    assert user_api.delete(url).status_code == 404
    assert user_api.get(url + "messages/").status_code == 404
    assert Message.objects.filter(conversation_id=theirs).count() == 2


def test_a_conversation_can_be_renamed_but_not_to_nothing(user_api: APIClient):
    conversation = start(user_api, "hello")

    response = user_api.patch(
        f"/api/conversations/{conversation}/", {"title": "Greetings"}, format="json"
    )

    assert response.status_code == 200 and response.json()["title"] == "Greetings"
    bad = user_api.patch(f"/api/conversations/{conversation}/", {"title": ""}, format="json")
    assert bad.status_code == 400 and "title" in bad.json()["errors"]


def test_put_is_not_allowed(user_api: APIClient):
    conversation = start(user_api, "hello")

    response = user_api.put(f"/api/conversations/{conversation}/", {"title": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_delete_removes_the_messages_but_not_the_ledger(user_api: APIClient, user: User):
    conversation = start(user_api, "hello")

    assert user_api.delete(f"/api/conversations/{conversation}/").status_code == 204

    assert user_api.get(f"/api/conversations/{conversation}/").status_code == 404
    assert not Message.objects.exists()
    assert LedgerEntry.objects.filter(wallet_id=user.pk, kind="chat_charge").count() == 1


def test_messages_are_paginated_oldest_first(user_api: APIClient):
    conversation = start(user_api, "one")
    for text in ("two", "three"):
        user_api.post("/api/chat/", {"message": text, "conversation": conversation}, format="json")

    page = user_api.get(f"/api/conversations/{conversation}/messages/?page_size=4").json()

    assert page["count"] == 6 and len(page["results"]) == 4 and page["next"]
    assert [m["role"] for m in page["results"]] == ["user", "assistant", "user", "assistant"]
    assert page["results"][0]["content"] == "one"
    assert page["results"][0]["tokens_charged"] == 100


def test_conversations_need_a_token(api: APIClient):
    assert api.get("/api/conversations/").status_code == 401
