"""Streamed chats: deltas, then a `done` event with the plain response, charged like any chat."""

from __future__ import annotations

from typing import Any, cast

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing
from billing.models import LedgerEntry
from chat.models import Message, RequestLog
from tests.chat.conftest import parse_sse
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db


def stream(api: APIClient, message: str, **extra: Any) -> tuple[Any, list[tuple[str, Any]]]:
    response = api.post("/api/chat/", {"message": message, "stream": True, **extra}, format="json")
    return response, parse_sse(response)


def test_a_streamed_chat_sends_deltas_then_the_full_response(user_api: APIClient, user: User):
    response, events = stream(user_api, "Hello, what can you do?")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"delta"} and len(names) > 2
    done = events[-1][1]
    assert "".join(data["text"] for name, data in events[:-1]) == done["response"]
    assert done["tokens_charged"] == 100 and done["tokens_remaining"] == 3900
    assert Message.objects.get(pk=done["message_id"]).content == done["response"]


def test_accept_event_stream_also_streams(user_api: APIClient):
    response = user_api.post(
        "/api/chat/", {"message": "hi"}, format="json", HTTP_ACCEPT="text/event-stream"
    )

    assert response["Content-Type"] == "text/event-stream"
    assert parse_sse(response)[-1][0] == "done"


def test_accept_event_stream_gets_refusals_before_the_stream_as_json(
    user_api: APIClient, user: User
):
    billing.charge(user=user, amount=3950)

    response = user_api.post(
        "/api/chat/", {"message": "hi"}, format="json", HTTP_ACCEPT="text/event-stream"
    )

    assert response.status_code == 402
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "insufficient_tokens"


def test_a_streamed_chat_is_metered_with_the_models_usage(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("streamed words here", usage=(321, 3)))

    _, events = stream(user_api, "count me")

    assert events[-1][1]["usage"] == {
        "prompt_tokens": 321,
        "completion_tokens": 3,
        "counted": False,
    }
    log = RequestLog.objects.get()
    assert (log.streamed, log.prompt_tokens, log.completion_tokens, log.tokens_charged) == (
        True,
        321,
        3,
        100,
    )
    assert openai_model.chat_requests()[0].json["stream_options"] == {"include_usage": True}


def test_a_stream_that_fails_ends_with_an_error_event_and_a_refund(
    user_api: APIClient, user: User, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.failure(500, "upstream exploded"))

    response, events = stream(user_api, "will fail")

    assert response.status_code == 200  # the stream had started; the error is in-band
    name, data = events[-1]
    assert name == "error"
    assert data["code"] == "provider_unavailable" and data["tokens_remaining"] == 4000
    kinds = list(LedgerEntry.objects.filter(wallet_id=user.pk).values_list("kind", flat=True))
    assert sorted(kinds) == ["chat_charge", "refund", "signup_grant"]


def test_errors_before_the_stream_starts_are_plain_json(user_api: APIClient, settings: Any):
    settings.CHAT_COST = 5000

    response = user_api.post("/api/chat/", {"message": "hi", "stream": True}, format="json")

    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_tokens"


@pytest.mark.django_db(transaction=True)  # closing a response closes the DB connection
def test_a_client_that_stops_reading_still_gets_its_answer_stored(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("one two three four five six", chunk_delay=0.05))
    response = user_api.post("/api/chat/", {"message": "go", "stream": True}, format="json")
    content = iter(cast(Any, response).streaming_content)

    next(content)  # the first delta, then the client goes away
    response.close()

    reply = Message.objects.get(role="assistant")
    assert reply.content == "one two three four five six"
    assert RequestLog.objects.get().status == "ok"


def test_a_plain_chat_asks_the_model_for_the_whole_answer_and_a_streamed_one_for_a_stream(
    user_api: APIClient, openai_model: FakeOpenAI
):
    openai_model.enqueue(Reply.answer("all at once", usage=(12, 3)))
    openai_model.enqueue(Reply.answer("word by word", usage=(12, 3)))

    plain = user_api.post("/api/chat/", {"message": "plain"}, format="json")
    _, events = stream(user_api, "streamed")

    assert plain.json()["response"] == "all at once"
    assert plain.json()["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "counted": False}
    assert events[-1][1]["response"] == "word by word"
    first, second = openai_model.chat_requests()
    assert not first.json.get("stream") and second.json["stream"] is True
