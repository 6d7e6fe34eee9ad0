"""The OpenAI-compatible API through the official `openai` SDK against a real uvicorn server:
models, completions streamed and not, tool calls round-tripping to a plain model, every error
class the SDK raises, and the wallet moving by exactly the price of each call."""

# The SDK types messages and tools as TypedDicts and every response field as optional; these
# tests pass plain dicts and assert the values at run time.
# mypy: disable-error-code="arg-type, call-overload, list-item, union-attr, index, operator"

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from accounts.models import User
from accounts.services import user_register
from billing import services as billing
from billing.models import LedgerEntry
from billing.selectors import balance_of
from chat.models import Message, RequestLog
from orders import services as orders
from tests.chat.test_live_streaming import wait_for
from tests.conftest import PASSWORD
from tests.live_server import LiveServer, live_server
from tests.orders.conftest import CATALOG
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)  # the server reads what the test commits

PRICE = 100
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {
        "LLM_PROVIDER": "local",
        "LLM_FALLBACKS": "",
        "LLM_TIMEOUT_S": "10",
        "LLM_MAX_OUTPUT_TOKENS": "500",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_MODEL": "gpt-fake",
        "OPENAI_MODELS": "gpt-fake",
        "CHAT_COST": str(PRICE),
        "THROTTLE_CHAT": "1000/min",
        "MAX_INFLIGHT_CHATS": "100",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    log: Path = tmp_path_factory.mktemp("uvicorn") / "server.log"
    with live_server(env, log=log) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeOpenAI) -> None:
    fake.replies.clear()
    fake.requests.clear()


def sdk(server: LiveServer, username: str) -> tuple[User, openai.OpenAI, str]:
    user, token = user_register(username=username, password=PASSWORD)
    client = openai.OpenAI(api_key=token.key, base_url=f"{server.url}/v1", max_retries=0)
    return user, client, token.key


def charges(user: User) -> list[int]:
    return list(
        LedgerEntry.objects.filter(wallet__user=user)
        .exclude(kind=LedgerEntry.Kind.SIGNUP_GRANT)
        .order_by("id")
        .values_list("delta", flat=True)
    )


def test_the_models_are_the_assistant_and_every_allowed_provider_model(server: LiveServer) -> None:
    _, client, _ = sdk(server, "models")

    ids = [model.id for model in client.models.list()]

    assert ids == ["tally-assistant", "local/tally-local-1", "openai/gpt-fake"]
    assert client.models.retrieve("openai/gpt-fake").owned_by == "openai"
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("openai/gpt-unlisted")
    assert raised.value.code == "model_not_found"


def test_the_assistant_takes_an_order_and_charges_the_price_once(server: LiveServer) -> None:
    orders.catalog_load(products=json.loads(CATALOG.read_text()))
    user, client, _ = sdk(server, "orders")

    response = client.with_options(max_retries=0).chat.completions.with_raw_response.create(
        model="tally-assistant",
        messages=[{"role": "user", "content": "Two margheritas, please"}],
    )
    completion = response.parse()

    assert "Margherita" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "tally-assistant"
    assert completion.usage.prompt_tokens > 0
    assert response.headers["Tally-Usage"] == "reported"
    tally = completion.model_extra["tally"]
    assert tally["order"]["items"][0]["quantity"] == 2
    assert tally["tokens_charged"] == PRICE
    assert tally["tokens_remaining"] == balance_of(user=user) == 4000 - PRICE
    log = RequestLog.objects.get(user=user)
    assert (log.status, log.tokens_charged, log.streamed) == ("ok", PRICE, False)

    streamed = list(
        client.chat.completions.create(
            model="tally-assistant",
            messages=[{"role": "user", "content": "And a Coca-Cola"}],
            stream=True,
        )
    )

    order = streamed[-1].model_extra["tally"]["order"]
    assert [item["name"] for item in order["items"]] == ["Margherita", "Coca-Cola"]
    assert order["total"] == "19.50"
    assert charges(user) == [-PRICE, -PRICE]


def test_the_assistant_streams_with_usage_and_keeps_the_client_history(server: LiveServer) -> None:
    user, client, _ = sdk(server, "streams")

    stream = client.chat.completions.create(
        model="tally-assistant",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "What pizzas do you have?"}]},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1
    stored = Message.objects.get(conversation__user=user, role="assistant")
    assert text == stored.content != ""
    assert balance_of(user=user) == 4000 - PRICE
    assert RequestLog.objects.get(user=user).streamed


def test_a_plain_model_gets_tools_and_parameters_and_its_calls_round_trip(
    server: LiveServer, fake: FakeOpenAI
) -> None:
    user, client, _ = sdk(server, "tools")
    fake.enqueue(
        Reply.tool_call("get_weather", {"city": "Oslo"}, id="call_1"),
        Reply.answer("Sunny in Oslo."),
    )
    asked = [{"role": "user", "content": "Weather in Oslo?"}]

    first = client.chat.completions.create(
        model="openai/gpt-fake",
        messages=asked,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0.2,
        max_tokens=9999,
        stop=["END"],
        seed=7,
    )
    call = first.choices[0].message.tool_calls[0]
    second = client.chat.completions.create(
        model="openai/gpt-fake",
        messages=[
            *asked,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
        ],
        tools=[WEATHER],
    )

    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1",
        "get_weather",
        {"city": "Oslo"},
    )
    assert second.choices[0].message.content == "Sunny in Oslo."
    assert second.model == "openai/gpt-fake"
    sent, answered = (request.json for request in fake.chat_requests())
    assert sent["messages"] == asked  # no shop instructions, no passages
    assert sent["tools"] == [WEATHER]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (sent["temperature"], sent["stop"], sent["seed"]) == (0.2, ["END"], 7)
    assert sent["max_tokens"] == 500  # capped by LLM_MAX_OUTPUT_TOKENS
    assert answered["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"sky": "clear"}',
    }
    assert answered["messages"][-2]["tool_calls"][0]["id"] == "call_1"
    assert charges(user) == [-PRICE, -PRICE]


def test_usage_a_server_leaves_out_is_counted_and_said_to_be(
    server: LiveServer, fake: FakeOpenAI
) -> None:
    user, client, _ = sdk(server, "counted")
    fake.enqueue(Reply.answer("Counted by Tally, not by me.", usage=None))

    chunks = list(
        client.chat.completions.create(
            model="openai/gpt-fake",
            messages=[{"role": "user", "content": "Say something"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    usage = chunks[-1].usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert chunks[-2].model_extra["tally"]["usage_counted"] is True
    log = RequestLog.objects.get(user=user)
    assert (log.prompt_tokens, log.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def test_each_error_is_the_sdk_exception_a_client_expects(server: LiveServer) -> None:
    user, client, _ = sdk(server, "errors")
    hello = [{"role": "user", "content": "Hello"}]

    with pytest.raises(openai.AuthenticationError) as bad_key:
        openai.OpenAI(api_key="not-a-token", base_url=f"{server.url}/v1").models.list()
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=hello)
    with pytest.raises(openai.BadRequestError) as unsupported:
        client.chat.completions.create(
            model="tally-assistant", messages=hello, extra_body={"logprobs": True}
        )
    with pytest.raises(openai.BadRequestError) as local_json:
        client.chat.completions.create(
            model="local/tally-local-1", messages=hello, response_format={"type": "json_object"}
        )
    with pytest.raises(openai.BadRequestError) as invalid:
        client.chat.completions.create(model="tally-assistant", messages=hello, temperature=3)
    billing.charge(user=user, amount=4000, reference="test:empty")
    with pytest.raises(openai.RateLimitError) as empty:
        client.chat.completions.create(model="tally-assistant", messages=hello)

    assert bad_key.value.code == "invalid_api_key"
    assert (unknown.value.code, unknown.value.param) == ("model_not_found", "model")
    assert (unsupported.value.code, unsupported.value.param) == (
        "unsupported_parameter",
        "logprobs",
    )
    assert local_json.value.param == "response_format"
    assert (invalid.value.param, invalid.value.type) == ("temperature", "invalid_request_error")
    assert empty.value.code == "insufficient_quota"
    assert empty.value.response.headers["x-should-retry"] == "false"
    assert charges(user) == [-4000]  # nothing charged for any refused call
    assert not Message.objects.filter(conversation__user=user).exists()


def test_a_failed_model_is_refunded_and_the_stream_says_why(
    server: LiveServer, fake: FakeOpenAI
) -> None:
    user, client, _ = sdk(server, "refunds")
    fake.enqueue(Reply.failure(500), Reply.answer("Half an ans wer", error_after_chunks=2))
    hello = [{"role": "user", "content": "Hello"}]

    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="openai/gpt-fake", messages=hello)
    with pytest.raises(openai.APIError) as midway:
        list(client.chat.completions.create(model="openai/gpt-fake", messages=hello, stream=True))

    assert midway.value.body["tokens_remaining"] == 4000
    assert charges(user) == [-PRICE, PRICE, -PRICE, PRICE]
    assert balance_of(user=user) == 4000


def test_a_retry_with_the_same_idempotency_key_is_replayed_uncharged(server: LiveServer) -> None:
    user, client, _ = sdk(server, "idempotent")
    ask: dict[str, Any] = {
        "model": "tally-assistant",
        "messages": [{"role": "user", "content": "Hello"}],
        "extra_headers": {"Idempotency-Key": "order-42"},
    }

    streaming = {**ask, "stream": True, "extra_headers": {"Idempotency-Key": "order-43"}}

    first = client.chat.completions.create(**ask)
    again = client.chat.completions.with_raw_response.create(**ask)
    streamed, restreamed = (list(client.chat.completions.create(**streaming)) for _ in "12")

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parse().choices[0].message.content == first.choices[0].message.content
    texts = [
        "".join(c.choices[0].delta.content or "" for c in s if c.choices)
        for s in (
            streamed,
            restreamed,
        )
    ]
    assert texts[0] == texts[1] != ""
    assert restreamed[-1].model_extra["tally"] == streamed[-1].model_extra["tally"]
    assert charges(user) == [-PRICE, -PRICE]


def test_fifty_concurrent_calls_with_ten_affordable_charge_exactly_ten(
    server: LiveServer,
) -> None:
    user, _, key = sdk(server, "crowd")
    billing.charge(user=user, amount=4000 - 10 * PRICE, reference="test:leave-ten")
    client = openai.AsyncOpenAI(api_key=key, base_url=f"{server.url}/v1", max_retries=0)

    async def ask(n: int) -> str:
        try:
            await client.chat.completions.create(
                model="tally-assistant", messages=[{"role": "user", "content": f"Hi {n}"}]
            )
        except openai.RateLimitError as exc:
            return str(exc.code)
        return "ok"

    async def crowd() -> list[str]:
        return await asyncio.gather(*(ask(n) for n in range(50)))

    outcomes = asyncio.run(crowd())

    assert outcomes.count("ok") == 10
    assert outcomes.count("insufficient_quota") == 40
    assert balance_of(user=user) == 0
    assert sorted(charges(user)) == sorted([-(4000 - 10 * PRICE)] + [-PRICE] * 10)
    wait_for(lambda: RequestLog.objects.filter(user=user).count() == 10)


def test_the_async_client_streams_too(server: LiveServer) -> None:
    user, _, key = sdk(server, "async-stream")
    client = openai.AsyncOpenAI(api_key=key, base_url=f"{server.url}/v1", max_retries=0)

    async def stream() -> list[Any]:
        chunks = await client.chat.completions.create(
            model="tally-assistant",
            messages=[{"role": "user", "content": "Is delivery free?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return [chunk async for chunk in chunks]

    chunks = asyncio.run(stream())

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == Message.objects.get(conversation__user=user, role="assistant").content != ""
    assert chunks[-1].usage.total_tokens > 0
    assert balance_of(user=user) == 4000 - PRICE
