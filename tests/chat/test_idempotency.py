"""Idempotency-Key: a retry replays the first answer without a second charge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry
from chat import idempotency
from chat.models import IdempotencyKey, Message
from tests.conftest import client_for
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db


def chat(api: APIClient, message: str, key: str) -> Any:
    return api.post("/api/chat/", {"message": message}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def charges(user: User) -> int:
    return LedgerEntry.objects.filter(wallet_id=user.pk, kind="chat_charge").count()


def test_a_retry_with_the_same_key_returns_the_first_answer_uncharged(
    user_api: APIClient, user: User
):
    first = chat(user_api, "hello", "key-1")
    retry = chat(user_api, "hello", "key-1")

    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert charges(user) == 1
    assert Message.objects.count() == 2


def test_the_same_key_with_a_different_body_is_a_422(user_api: APIClient, user: User):
    chat(user_api, "hello", "key-1")

    response = chat(user_api, "something else", "key-1")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_mismatch"
    assert charges(user) == 1


def test_the_same_key_while_the_first_request_runs_is_a_409(user_api: APIClient, user: User):
    idempotency.claim(user=user, key="key-1", payload={"message": "hello"})

    response = chat(user_api, "hello", "key-1")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert charges(user) == 0


def test_keys_belong_to_one_user(user_api: APIClient, make_user: Callable[..., User]):
    other = make_user("bob")
    chat(user_api, "hello", "shared-key")

    response = chat(client_for(other), "hello", "shared-key")

    assert response.status_code == 200
    assert charges(other) == 1


def test_keys_expire_after_24_hours(user_api: APIClient, user: User):
    chat(user_api, "hello", "key-1")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    chat(user_api, "hello", "key-1")

    assert charges(user) == 2


def test_a_failed_request_releases_its_key_so_a_retry_runs_again(
    user_api: APIClient, user: User, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.failure(500), Reply.answer("second time lucky"))

    assert chat(user_api, "hello", "key-1").status_code == 502
    retry = chat(user_api, "hello", "key-1")

    assert retry.status_code == 200 and retry.json()["response"] == "second time lucky"
    assert charges(user) == 2  # the first was refunded
    assert user_api.get("/api/tokens/").json() == {"tokens": 3900}


def test_an_overlong_key_is_a_400(user_api: APIClient):
    response = chat(user_api, "hello", "k" * 256)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


def test_a_streamed_retry_replays_as_events(user_api: APIClient, user: User, settings: Any):
    from tests.chat.conftest import parse_sse

    body = {"message": "hello", "stream": True}
    first = user_api.post("/api/chat/", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    done = parse_sse(first)[-1][1]

    retry = user_api.post("/api/chat/", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")

    events = parse_sse(retry)
    assert events[-1] == ("done", done)
    assert charges(user) == 1
