"""POST /api/chat/: charged answers, history, refunds on every failure, validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing
from billing.models import LedgerEntry
from chat.models import Conversation, Message, RequestLog
from tests.conftest import client_for
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db
URL = "/api/chat/"


def chat(api: APIClient, message: str, **extra: Any) -> Any:
    return api.post(URL, {"message": message, **extra}, format="json")


def ledger(user: User) -> list[tuple[str, int]]:
    return list(
        LedgerEntry.objects.filter(wallet_id=user.pk).order_by("id").values_list("kind", "delta")
    )


def test_a_chat_costs_100_and_answers_in_the_known_shape(user_api: APIClient, user: User):
    response = chat(user_api, "Hello there!")

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Hello there!"
    assert body["response"]
    assert body["tokens_charged"] == 100
    assert body["tokens_remaining"] == 3900
    assert body["source"] == "provider"
    assert (body["provider"], body["model"]) == ("local", "tally-local-1")
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    assert user_api.get("/api/tokens/").json() == {"tokens": 3900}
    assert ledger(user) == [("signup_grant", 4000), ("chat_charge", -100)]


def test_a_new_conversation_is_titled_from_the_first_message_and_stores_both_turns(
    user_api: APIClient,
):
    body = chat(user_api, "  What are your   opening hours on Sunday? ").json()

    conversation = Conversation.objects.get(pk=body["conversation"])
    assert conversation.title == "What are your opening hours on Sunday?"
    turns = list(conversation.messages.values_list("role", "status", "tokens_charged"))
    assert turns == [("user", "ok", 100), ("assistant", "ok", 0)]
    reply = Message.objects.get(pk=body["message_id"])
    assert reply.content == body["response"] and reply.prompt_tokens > 0


def test_a_follow_up_sends_the_earlier_turns_to_the_model(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("Nice to meet you, Ada."), Reply.answer("You are Ada."))
    first = chat(user_api, "My name is Ada.").json()

    second = chat(user_api, "What is my name?", conversation=first["conversation"]).json()

    assert second["conversation"] == first["conversation"]
    sent = openai_model.chat_requests()[-1].json["messages"]
    said = [(m["role"], m["content"]) for m in sent if m["role"] in ("user", "assistant")]
    assert said == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
    ]
    assert second["tokens_remaining"] == 3800


def test_history_is_limited_to_the_configured_number_of_messages(
    user_api: APIClient, openai_model: FakeOpenAI, settings: Any
):
    settings.CHAT_HISTORY_MESSAGES = 2
    openai_model.enqueue(*(Reply.answer(f"answer {n}") for n in range(3)))
    conversation = chat(user_api, "one").json()["conversation"]
    chat(user_api, "two", conversation=conversation)

    chat(user_api, "three", conversation=conversation)

    sent = openai_model.chat_requests()[-1].json["messages"]
    said = [m["content"] for m in sent if m["role"] in ("user", "assistant")]
    assert said == ["two", "answer 1", "three"]


def test_usage_and_the_request_are_logged(
    user_api: APIClient, user: User, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("Forty-two.", usage=(120, 5)))

    body = chat(user_api, "The answer?", HTTP_X_FORWARDED_FOR="9.9.9.9").json()

    log = RequestLog.objects.get()
    assert (log.username, log.status, log.provider, log.model) == (
        "alice",
        "ok",
        "openai",
        "gpt-fake",
    )
    assert (log.prompt_tokens, log.completion_tokens, log.tokens_charged) == (120, 5, 100)
    assert log.request_text == "The answer?" and log.response_text == "Forty-two."
    assert log.client_ip == "127.0.0.1"  # the forged header is not believed
    assert body["usage"] == {"prompt_tokens": 120, "completion_tokens": 5, "counted": False}


@pytest.mark.parametrize(
    ("reply", "http_status", "code"),
    [
        (Reply.failure(401, "bad key"), 502, "provider_auth_failed"),
        (Reply.failure(400, "bad request"), 502, "provider_invalid_request"),
        (Reply.failure(500, "boom"), 502, "provider_unavailable"),
        (
            Reply.failure(429, "slow down", headers={"Retry-After": "7"}),
            503,
            "provider_rate_limited",
        ),
        (Reply.answer("too late", delay=3.0), 504, "provider_timeout"),
    ],
)
def test_every_provider_failure_is_refunded_and_recorded(
    user_api: APIClient,
    user: User,
    openai_model: FakeOpenAI,
    reply: Reply,
    http_status: int,
    code: str,
):
    openai_model.enqueue(reply)

    response = chat(user_api, "Will this work?")

    assert response.status_code == http_status
    assert response.json()["code"] == code
    assert ledger(user) == [("signup_grant", 4000), ("chat_charge", -100), ("refund", 100)]
    assert user_api.get("/api/tokens/").json() == {"tokens": 4000}
    question = Message.objects.get()
    assert (question.role, question.status, question.tokens_charged) == ("user", "failed", 0)
    log = RequestLog.objects.get()
    assert (log.status, log.error_code, log.tokens_charged) == ("provider_error", code, 0)
    if code == "provider_rate_limited":
        assert response["Retry-After"] == "7"


def test_a_chat_whose_model_server_dropped_the_connection_is_answered_and_charged_once(
    user_api: APIClient, user: User, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.hang_up(), Reply.answer("Still here."))

    response = chat(user_api, "Are you there?")

    assert response.status_code == 200
    assert response.json()["response"] == "Still here."
    assert ledger(user) == [("signup_grant", 4000), ("chat_charge", -100)]
    assert len(openai_model.chat_requests()) == 2


def test_a_failed_turn_is_left_out_of_the_next_prompt(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("first answer"), Reply.failure(500), Reply.answer("ok"))
    conversation = chat(user_api, "first").json()["conversation"]
    chat(user_api, "lost", conversation=conversation)

    chat(user_api, "third", conversation=conversation)

    said = [m["content"] for m in openai_model.chat_requests()[-1].json["messages"][1:]]
    assert "lost" not in said and said[-1] == "third"


def test_without_enough_tokens_the_answer_is_402_and_nothing_is_stored(
    user_api: APIClient, user: User
):
    billing.charge(user=user, amount=3950)

    response = chat(user_api, "Hello")

    assert response.status_code == 402
    assert response.json() == {
        "detail": "Not enough tokens: 100 required, 50 available.",
        "code": "insufficient_tokens",
        "tokens": 50,
        "required": 100,
    }
    assert not Conversation.objects.exists() and not Message.objects.exists()


@pytest.mark.parametrize("message", ["", "   ", "\n\t"])
def test_an_empty_message_is_a_400(user_api: APIClient, user: User, message: str):
    response = chat(user_api, message)

    assert response.status_code == 400
    assert "message" in response.json()["errors"]
    assert ledger(user) == [("signup_grant", 4000)]


def test_a_message_longer_than_the_limit_is_a_400(user_api: APIClient, settings: Any):
    settings.CHAT_MAX_CHARS = 10

    assert chat(user_api, "x" * 10).status_code == 200
    response = chat(user_api, "x" * 11)
    assert response.status_code == 400
    assert "10 characters" in response.json()["errors"]["message"][0]


def test_another_users_conversation_is_a_404_and_uncharged(
    user_api: APIClient, user: User, make_user: Callable[..., User]
):
    theirs = chat(client_for(make_user("mallory")), "secret plans").json()["conversation"]

    response = chat(user_api, "show me", conversation=theirs)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert ledger(user) == [("signup_grant", 4000)]


@pytest.mark.parametrize(
    "choice", [{"provider": "nonesuch"}, {"provider": "openai"}, {"model": "gpt-99"}]
)
def test_an_unknown_or_unconfigured_model_is_a_400_listing_what_is_allowed(
    user_api: APIClient, user: User, choice: dict[str, str]
):
    response = chat(user_api, "hi", **choice)

    assert response.status_code == 400
    assert response.json()["code"] == "model_not_allowed"
    assert response.json()["allowed"] == {"local": ["tally-local-1"]}
    assert ledger(user) == [("signup_grant", 4000)]


def test_a_request_may_pick_an_allowed_model(
    user_api: APIClient, openai_model: FakeOpenAI, settings: Any
):
    settings.LLM_PROVIDER = "local"
    settings.OPENAI_MODELS = ["gpt-fake", "gpt-fake-large"]
    openai_model.enqueue(Reply.answer("from the large one"))

    body = chat(user_api, "hi", provider="openai", model="gpt-fake-large").json()

    assert (body["provider"], body["model"]) == ("openai", "gpt-fake-large")
    assert openai_model.chat_requests()[-1].json["model"] == "gpt-fake-large"


def test_the_chat_needs_a_token(api: APIClient):
    assert chat(api, "hi").status_code == 401
