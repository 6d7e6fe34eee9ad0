"""The answer cache (seed 002's `"source": "cache"`) and the per-user chat rate limit."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry
from tests.conftest import client_for
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db


def chat(api: APIClient, message: str) -> Any:
    return api.post("/api/chat/", {"message": message}, format="json")


def test_the_same_question_is_answered_from_the_cache_and_still_charged(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("Paris."))
    first = chat(user_api, "What is the capital of France?").json()

    second = chat(user_api, "What is the capital of France?").json()

    assert (first["source"], second["source"]) == ("provider", "cache")
    assert second["response"] == "Paris."
    assert len(openai_model.chat_requests()) == 1
    assert second["tokens_charged"] == 100 and second["tokens_remaining"] == 3800


def test_cache_hits_can_be_free(user_api: APIClient, user: User, settings: Any):
    settings.CHAT_CHARGE_CACHE_HITS = False
    chat(user_api, "hello")

    second = chat(user_api, "hello").json()

    assert second["source"] == "cache" and second["tokens_charged"] == 0
    assert second["tokens_remaining"] == 3900
    assert LedgerEntry.objects.filter(kind="refund").get().note == "cache hit"


def test_a_different_model_or_history_is_not_a_cache_hit(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("one"), Reply.answer("two"))
    conversation = chat(user_api, "hello").json()["conversation"]

    follow_up = user_api.post(
        "/api/chat/", {"message": "hello", "conversation": conversation}, format="json"
    ).json()

    assert follow_up["source"] == "provider" and follow_up["response"] == "two"


def test_the_cache_can_be_turned_off(user_api: APIClient, openai_model: FakeOpenAI, settings: Any):
    settings.CHAT_CACHE_TTL = 0
    openai_model.enqueue(Reply.answer("a"), Reply.answer("b"))
    chat(user_api, "same")

    assert chat(user_api, "same").json()["source"] == "provider"


def test_chats_are_rate_limited_per_user_with_retry_after(
    user_api: APIClient, user: User, settings: Any
):
    settings.THROTTLE_CHAT = "2/min"
    statuses = [chat(user_api, f"message {n}").status_code for n in range(3)]

    assert statuses == [200, 200, 429]
    response = chat(user_api, "again")
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"
    assert LedgerEntry.objects.filter(kind="chat_charge").count() == 2


def test_an_answer_built_from_a_users_memory_is_never_served_to_another_user(
    user_api: APIClient, make_user: Any, openai_model: FakeOpenAI
):
    openai_model.enqueue(
        Reply.answer("Noted."),
        Reply.answer("Your garage code is 7391."),
        Reply.answer("I do not know your garage code."),
    )
    chat(user_api, "Remember that my garage code is 7391.")
    alice = chat(user_api, "What is my garage code?").json()
    assert "7391" in str(openai_model.chat_requests()[-1].json)  # answered from her memory

    bob = chat(client_for(make_user("bob")), "What is my garage code?").json()

    assert alice["response"] == "Your garage code is 7391."
    assert (bob["source"], bob["response"]) == ("provider", "I do not know your garage code.")
    assert len(openai_model.chat_requests()) == 3


def test_an_answer_from_shared_documents_only_is_shared_between_users(
    user_api: APIClient, make_user: Any, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("We open at nine."))
    chat(user_api, "When do you open?")

    bob = chat(client_for(make_user("bob")), "When do you open?").json()

    assert (bob["source"], bob["response"]) == ("cache", "We open at nine.")
    assert len(openai_model.chat_requests()) == 1
