"""What `/v1/` refuses, and how: OpenAI's error shape naming the parameter, the status its SDK
maps to the right exception, and never a charge or a stored row."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.models import User
from billing.selectors import balance_of
from chat.models import Conversation
from retrieval.models import Chunk
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {accounts.token_issue(user=user).key}")
    return client


def complete(client: APIClient, **body: Any) -> Any:
    return client.post("/v1/chat/completions", {"model": "tally-assistant", **body}, format="json")


def error_of(response: Any) -> dict[str, Any]:
    assert set(response.json()) == {"error"}, response.json()
    return response.json()["error"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": []}, "messages", "invalid"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0]", "invalid"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content",
            "unsupported_parameter",
        ),
        ({"messages": [*HELLO, {"role": "assistant", "content": "Hi"}]}, "messages", "invalid"),
        (
            {"messages": [{"role": "tool", "tool_call_id": "x", "content": "{}"}]},
            "messages[0]",
            "invalid",
        ),
        ({"messages": HELLO, "n": 2}, "n", "unsupported_parameter"),
        ({"messages": HELLO, "logit_bias": {"1": 2}}, "logit_bias", "unsupported_parameter"),
        ({"messages": HELLO, "tools": []}, "tools", "unsupported_parameter"),
        ({"messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid"),
        ({"messages": HELLO, "max_tokens": 0}, "max_tokens", "invalid"),
        ({"messages": HELLO, "response_format": {"type": "yaml"}}, "response_format", "invalid"),
        ({"messages": [{"role": "user", "content": "x" * 4001}]}, "messages[0].content", "invalid"),
        ({"messages": [{"role": "user", "content": " "}]}, "messages[0].content", "invalid"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content", "invalid"),
        ({"messages": [{"role": "user", "content": "a\x00b"}]}, "messages[0].content", "invalid"),
        (
            {"messages": [{"role": "system", "content": "x" * 20_000}, *HELLO]},
            "messages",
            "invalid",
        ),
    ],
)
def test_a_bad_request_names_its_parameter_and_charges_nothing(
    bearer: APIClient, user: User, body: dict[str, Any], param: str, code: str
) -> None:
    response = complete(bearer, **body)

    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"]
    assert balance_of(user=user) == 4000
    assert not Conversation.objects.exists()


def test_a_plain_model_checks_tool_turns_against_the_calls_before_them(bearer: APIClient) -> None:
    orphan = [*HELLO, {"role": "tool", "tool_call_id": "call_9", "content": "{}"}]
    bad_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}
    calls = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [bad_call]}, *HELLO]
    forced = {"type": "function", "function": {"name": "missing"}}
    unnamed = {"type": "function", "function": "f"}

    responses = [
        complete(bearer, model="local/tally-local-1", messages=orphan),
        complete(bearer, model="local/tally-local-1", messages=calls),
        complete(bearer, model="local/tally-local-1", messages=HELLO, tool_choice=forced),
        complete(bearer, model="local/tally-local-1", messages=HELLO, tool_choice=unnamed),
    ]

    assert [error_of(r)["param"] for r in responses] == [
        "messages[1].tool_call_id",
        "messages[1].tool_calls[0]",
        "tool_choice",
        "tool_choice",
    ]


def test_authentication_is_a_bearer_token_or_tallys_own_prefix(
    bearer: APIClient, user: User, api: APIClient
) -> None:
    tally_prefix = APIClient()
    tally_prefix.credentials(HTTP_AUTHORIZATION=f"Token {accounts.token_issue(user=user).key}")
    missing = api.get("/v1/models")
    api.credentials(HTTP_AUTHORIZATION="Bearer 0123456789abcdef")

    assert bearer.get("/v1/models").status_code == 200
    assert tally_prefix.get("/v1/models").status_code == 200
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == "Bearer"
    assert error_of(missing)["code"] == "invalid_api_key"
    assert error_of(api.get("/v1/models"))["code"] == "invalid_api_key"


def test_an_unknown_path_or_unreadable_body_is_an_openai_error(bearer: APIClient) -> None:
    unknown = bearer.get("/v1/embeddings")
    unreadable = bearer.post("/v1/chat/completions", "{not json", content_type="application/json")
    not_object = bearer.post("/v1/chat/completions", [1, 2], format="json")

    assert (unknown.status_code, error_of(unknown)["code"]) == (404, "not_found")
    assert (unreadable.status_code, error_of(unreadable)["code"]) == (400, "parse_error")
    assert (not_object.status_code, error_of(not_object)["param"]) == (400, None)


def test_throttled_calls_are_rate_limit_errors_the_sdk_retries(
    bearer: APIClient, settings: Any
) -> None:
    settings.THROTTLE_CHAT = "1/min"

    complete(bearer, messages=HELLO)
    throttled = complete(bearer, messages=HELLO)

    assert throttled.status_code == 429
    error = error_of(throttled)
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert int(throttled["Retry-After"]) == error["retry_after"] > 0
    assert "x-should-retry" not in throttled


def test_the_offline_model_calls_a_clients_order_tool_unless_told_none(bearer: APIClient) -> None:
    product = {"type": "string", "x-catalog": ["Margherita"]}  # its catalog hint
    add = {
        "type": "function",
        "function": {
            "name": "add_to_order",
            "parameters": {"type": "object", "properties": {"product": product}},
        },
    }
    asked = [{"role": "user", "content": "Two margheritas, please"}]

    auto, none = (
        complete(bearer, model="local/tally-local-1", messages=asked, tools=[add], tool_choice=c)
        for c in ("auto", "none")
    )

    called = auto.json()["choices"][0]
    assert called["finish_reason"] == "tool_calls"
    assert called["message"]["tool_calls"][0]["function"]["name"] == "add_to_order"
    uncalled = none.json()["choices"][0]
    assert uncalled["finish_reason"] == "stop"
    assert "tool_calls" not in uncalled["message"]


def test_the_assistant_keeps_the_clients_history_to_the_stored_historys_limits(
    bearer: APIClient, settings: Any
) -> None:
    settings.CHAT_HISTORY_MESSAGES = 4
    earlier = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"turn {n}"} for n in range(30)
    ]
    asked = [{"role": "system", "content": "Be terse."}, *earlier, *HELLO]
    with FakeOpenAI() as fake:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "gpt-fake"

        response = complete(bearer, messages=asked)

        sent = fake.chat_requests()[0].json["messages"]
    assert response.status_code == 200, response.json()
    assert sent[0]["role"] == "system" and sent[0]["content"].endswith("Be terse.")
    turns = [m["content"] for m in sent[1:] if not m["content"].startswith("<passages>")]
    assert turns == ["turn 26", "turn 27", "turn 28", "turn 29", "Hello"]


@pytest.fixture
def vendor(settings: Any) -> Any:
    """The fake OpenAI server as `openai/gpt-fake`, the local assistant as the fallback."""
    with FakeOpenAI() as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "gpt-fake"
        settings.LLM_FALLBACKS = ["local"]
        yield fake


def test_a_plain_model_is_asked_every_time_and_never_stood_in_for(
    bearer: APIClient, vendor: FakeOpenAI, user: User
) -> None:
    vendor.enqueue(Reply.answer("first sample"), Reply.answer("second sample"))
    vendor.enqueue(Reply.failure(503))
    ask = {"model": "openai/gpt-fake", "messages": HELLO, "temperature": 1.2, "n": None}

    answers = [complete(bearer, **ask) for _ in range(3)]

    texts = [r.json()["choices"][0]["message"]["content"] for r in answers[:2]]
    assert texts == ["first sample", "second sample"]  # not the cache's first answer again
    assert answers[2].status_code == 502  # not the local assistant's answer in its place
    assert error_of(answers[2])["type"] == "server_error"
    assert len(vendor.chat_requests()) == 3
    assert balance_of(user=user) == 4000 - 200
    assert not Chunk.objects.filter(kind=Chunk.Kind.MEMORY).exists()  # not recalled later


def test_a_tool_call_cut_short_comes_back_as_written_with_finish_reason_length(
    bearer: APIClient, vendor: FakeOpenAI
) -> None:
    vendor.enqueue(
        Reply.tool_call("get_weather", '{"city": "Par', id="call_1", finish_reason="length")
    )
    tool = {"type": "function", "function": {"name": "get_weather"}}

    choice = complete(bearer, model="openai/gpt-fake", messages=HELLO, tools=[tool]).json()[
        "choices"
    ][0]

    assert choice["finish_reason"] == "length"
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Par'


def test_a_model_server_refusing_the_parameters_is_a_400_not_retried(
    bearer: APIClient, vendor: FakeOpenAI, user: User
) -> None:
    vendor.enqueue(Reply.failure(400, "temperature is not supported with this model"))

    response = complete(bearer, model="openai/gpt-fake", messages=HELLO, temperature=0.5)

    assert response.status_code == 400
    assert error_of(response)["code"] == "provider_invalid_request"
    assert response["x-should-retry"] == "false"
    assert balance_of(user=user) == 4000  # refunded


def test_usage_is_counted_even_for_an_empty_answer(bearer: APIClient, vendor: FakeOpenAI) -> None:
    vendor.enqueue(Reply.answer("", usage=None))

    response = complete(bearer, model="openai/gpt-fake", messages=HELLO)

    assert response["Tally-Usage"] == "counted"
    assert response.json()["usage"]["prompt_tokens"] > 0


def test_djangos_own_error_pages_are_openai_errors_under_v1_only() -> None:
    from django.test import RequestFactory

    from compat import exceptions

    under, elsewhere = RequestFactory().get("/v1/chat/completions"), RequestFactory().get("/x/")
    pages = [
        exceptions.bad_request(under, ValueError()),
        exceptions.permission_denied(under, ValueError()),
        exceptions.server_error(under),
    ]

    assert [(p.status_code, json.loads(p.content)["error"]["code"]) for p in pages] == [
        (400, "bad_request"),
        (403, "permission_denied"),
        (500, "server_error"),
    ]
    assert exceptions.server_error(elsewhere)["Content-Type"].startswith("text/html")
