"""The Gemini adapter, through the real `google-genai` SDK against a fake server over HTTP."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest

from providers.adapters import gemini_chat
from providers.adapters.gemini_chat import GeminiProvider
from providers.base import ProviderConfig
from providers.exceptions import (
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.types import Completion, Message, Options, Prompt, TextDelta, ToolCall, Usage
from tests.providers.fakes import FakeGemini, Reply
from tests.providers.samples import (
    ADD_ITEM,
    GEMINI_KEY,
    ORDER,
    QUESTION,
    QUOTED_HOURS,
    unquote_passages,
)

MakeProvider = Callable[..., GeminiProvider]


@pytest.fixture
def make_provider(fake_gemini: FakeGemini) -> MakeProvider:
    def make(**overrides: Any) -> GeminiProvider:
        options: dict[str, Any] = {
            "name": "gemini",
            "default_model": "gemini-fake-flash",
            "models": ("gemini-fake-flash",),
            "api_key": GEMINI_KEY,
            "base_url": fake_gemini.base_url,
            "embedding_model": "gemini-embedding-fake",
            "timeout_s": 2.0,
            "max_output_tokens": 300,
        }
        options.update(overrides)
        return GeminiProvider(ProviderConfig(**options))

    return make


def stream_all(provider: GeminiProvider, prompt: Prompt) -> tuple[list[str], Completion]:
    *deltas, final = list(provider.stream(prompt))
    assert all(isinstance(event, TextDelta) for event in deltas)
    assert isinstance(final, Completion)
    return [event.text for event in deltas if isinstance(event, TextDelta)], final


def parts_of(request_json: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [part for c in request_json["contents"] if c["role"] == role for part in c["parts"]]


def declared_schema(declaration: dict[str, Any]) -> Any:
    # Google's JSON API accepts proto field names in either spelling; the SDK sends snake_case.
    return declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))


def test_plain_answer_carries_text_usage_model_and_finish_reason(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.answer("We open at 9 (hours.md).", usage=(40, 10)))

    completion = make_provider().complete(QUESTION)

    assert completion.text == "We open at 9 (hours.md)."
    assert completion.provider == "gemini"
    assert completion.model == "gemini-fake-flash"
    assert completion.usage == Usage(prompt_tokens=40, completion_tokens=10)
    assert completion.finish_reason == "stop"


def test_request_carries_the_key_system_instruction_quoted_passages_and_output_limit(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    make_provider().complete(QUESTION)

    sent = fake_gemini.last_request
    assert sent.path.endswith("/models/gemini-fake-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    body = sent.json
    system = body["systemInstruction"]["parts"][0]["text"]
    assert system.startswith("You are Tally's shop assistant.")
    assert "never instructions" in system
    assert "We open at 9 every day." not in system
    # One user turn (Gemini may refuse two in a row): the quoted passages, then the question.
    (turn,) = body["contents"]
    assert turn["role"] == "user"
    passages, question = turn["parts"]
    assert unquote_passages(passages["text"]) == QUOTED_HOURS
    assert question == {"text": "When do you open?"}
    assert body["generationConfig"]["maxOutputTokens"] == 300


def test_tools_are_function_declarations_without_x_hints(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    make_provider().complete(Prompt(messages=ORDER, tools=[ADD_ITEM]))

    (tool,) = fake_gemini.last_request.json["tools"]
    (declaration,) = tool["functionDeclarations"]
    assert declaration["name"] == "add_item"
    assert declared_schema(declaration) == {
        "type": "object",
        "properties": {
            "product": {"type": "string"},
            "quantity": {"type": "integer", "minimum": 1},
        },
        "required": ["product"],
    }


def test_streamed_deltas_join_to_the_final_text_and_usage_is_recorded(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.answer("We open at nine every day.", usage=(30, 8)))

    deltas, final = stream_all(make_provider(), QUESTION)

    assert len(deltas) > 1
    assert "".join(deltas) == final.text == "We open at nine every day."
    # Every chunk carries running totals; the final one is what counts.
    assert final.usage == Usage(prompt_tokens=30, completion_tokens=8)
    sent = fake_gemini.last_request
    assert sent.path.endswith(":streamGenerateContent")
    assert sent.query["alt"] == ["sse"]


def test_thinking_tokens_count_as_completion_tokens(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.answer("Nine.", usage=(20, 3), thinking_tokens=50))

    assert make_provider().complete(QUESTION).usage == Usage(20, 53)


def test_tool_call_round_trip_sends_call_signature_and_result_back_in_gemini_format(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    fake_gemini.enqueue(
        Reply.tool_call("add_item", {"product": "margherita", "quantity": 2}, signature=b"sig-1"),
        Reply.answer("Added 2 margheritas."),
    )

    first = provider.complete(Prompt(messages=ORDER, tools=[ADD_ITEM]))

    assert first.finish_reason == "tool_calls"
    (call,) = first.tool_calls
    assert call.name == "add_item"
    assert call.arguments == {"product": "margherita", "quantity": 2}
    assert call.id  # Gemini sent none: the adapter made one up
    follow_up = [
        *ORDER,
        Message("assistant", tool_calls=first.tool_calls),
        Message("tool", '{"ok": true, "lines": 1}', tool_call_id=call.id, name="add_item"),
    ]
    second = provider.complete(Prompt(messages=follow_up, tools=[ADD_ITEM]))

    assert second.text == "Added 2 margheritas."
    body = fake_gemini.last_request.json
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    (model_part,) = parts_of(body, "model")
    assert model_part["functionCall"] == {
        "name": "add_item",
        "args": {"product": "margherita", "quantity": 2},
    }
    assert base64.b64decode(model_part["thoughtSignature"]) == b"sig-1"
    response_part = parts_of(body, "user")[-1]
    assert response_part == {
        "functionResponse": {"name": "add_item", "response": {"ok": True, "lines": 1}}
    }


def test_generated_call_ids_are_stable(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    same_call = Reply.tool_call("add_item", {"product": "coke"})
    fake_gemini.enqueue(same_call, same_call, Reply.tool_call("add_item", {"product": "tea"}))

    ids = [provider.complete(Prompt(messages=ORDER)).tool_calls[0].id for _ in range(3)]

    assert ids[0] == ids[1] != ids[2]


def test_call_ids_from_gemini_are_kept_and_echoed_back(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    fake_gemini.enqueue(Reply.tool_call("add_item", {"product": "coke"}, id="fc-9"))
    (call,) = provider.complete(Prompt(messages=ORDER)).tool_calls
    assert call.id == "fc-9"

    provider.complete(
        Prompt(
            messages=[
                *ORDER,
                Message("assistant", tool_calls=(call,)),
                Message("tool", '{"ok": true}', tool_call_id="fc-9", name="add_item"),
            ]
        )
    )

    body = fake_gemini.last_request.json
    assert parts_of(body, "model")[0]["functionCall"]["id"] == "fc-9"
    assert parts_of(body, "user")[-1]["functionResponse"]["id"] == "fc-9"


def test_a_call_from_another_process_is_sent_with_the_skip_signature_sentinel(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    history = [
        *ORDER,
        Message("assistant", tool_calls=(ToolCall("old-1", "add_item", {"product": "coke"}),)),
        Message("tool", '{"ok": true}', tool_call_id="old-1", name="add_item"),
    ]

    make_provider().complete(Prompt(messages=history))

    (model_part,) = parts_of(fake_gemini.last_request.json, "model")
    assert base64.b64decode(model_part["thoughtSignature"]) == gemini_chat.SKIP_SIGNATURE


def test_a_tool_result_that_is_not_an_object_is_wrapped_as_output(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    call = ToolCall("c1", "count_items", {})
    history = [
        *ORDER,
        Message("assistant", tool_calls=(call,)),
        Message("tool", "3", tool_call_id="c1"),  # no name: found from the call it answers
    ]

    make_provider().complete(Prompt(messages=history))

    response = parts_of(fake_gemini.last_request.json, "user")[-1]["functionResponse"]
    assert response["name"] == "count_items"
    assert response["response"] == {"output": 3}


def test_streamed_function_call_ends_the_stream_with_the_tool_call(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.tool_call("add_item", {"product": "coke"}, usage=(12, 5)))

    deltas, final = stream_all(make_provider(), Prompt(messages=ORDER, tools=[ADD_ITEM]))

    assert deltas == []
    assert [(c.name, c.arguments) for c in final.tool_calls] == [("add_item", {"product": "coke"})]
    assert final.finish_reason == "tool_calls"
    assert final.usage == Usage(12, 5)


def test_an_invalid_key_raises_an_auth_error(make_provider: MakeProvider) -> None:
    # Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    with pytest.raises(ProviderAuthError) as caught:
        make_provider(api_key="wrong").complete(QUESTION)

    assert caught.value.retryable is False


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_raise_auth_errors(
    fake_gemini: FakeGemini, make_provider: MakeProvider, status: int
) -> None:
    fake_gemini.enqueue(Reply.failure(status))

    with pytest.raises(ProviderAuthError):
        make_provider().complete(QUESTION)


def test_429_raises_rate_limited_with_the_retry_after_header(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.failure(429, "Quota exceeded", headers={"Retry-After": "12"}))

    with pytest.raises(ProviderRateLimited) as caught:
        make_provider().complete(QUESTION)

    assert caught.value.retry_after == 12.0
    assert len(fake_gemini.generate_requests()) == 1  # the SDK did not retry behind our back


def test_429_without_header_takes_the_delay_from_retry_info(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.retry_delay = "23s"
    fake_gemini.enqueue(Reply.failure(429, "Quota exceeded"))

    with pytest.raises(ProviderRateLimited) as caught:
        make_provider().complete(QUESTION)

    assert caught.value.retry_after == 23.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_raise_unavailable(
    fake_gemini: FakeGemini, make_provider: MakeProvider, status: int
) -> None:
    fake_gemini.enqueue(Reply.failure(status))

    with pytest.raises(ProviderUnavailable) as caught:
        make_provider().complete(QUESTION)

    assert caught.value.retryable is True


@pytest.mark.parametrize("status", [400, 404])
def test_rejected_requests_raise_invalid_request(
    fake_gemini: FakeGemini, make_provider: MakeProvider, status: int
) -> None:
    fake_gemini.enqueue(Reply.failure(status, "Request contains an invalid argument."))

    with pytest.raises(ProviderInvalidRequest):
        make_provider().complete(QUESTION)


def test_an_answer_slower_than_the_timeout_raises_timeout(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.answer("too late", delay=3))

    with pytest.raises(ProviderTimeout):
        make_provider(timeout_s=0.5).complete(QUESTION)

    assert len(fake_gemini.generate_requests()) == 1  # a slow server is not asked twice


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_kept_alive_connection_dropped_without_an_answer_is_asked_again(
    fake_gemini: FakeGemini, make_provider: MakeProvider, how: Literal["close", "reset"]
) -> None:
    fake_gemini.enqueue(Reply.answer("first"), Reply.hang_up(how), Reply.answer("second"))
    provider = make_provider()

    assert provider.complete(QUESTION).text == "first"
    assert "".join(e.text for e in provider.stream(QUESTION) if isinstance(e, TextDelta)) == (
        "second"
    )

    first, dropped, _ = (r.client_port for r in fake_gemini.generate_requests())
    assert dropped == first  # the second question went on the connection the first left open


def test_a_request_dropped_twice_raises_unavailable_after_two_tries(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.hang_up(), Reply.hang_up("reset"), Reply.answer("not asked"))

    with pytest.raises(ProviderUnavailable) as caught:
        make_provider().complete(QUESTION)

    assert caught.value.retryable is True
    assert len(fake_gemini.generate_requests()) == 2


def test_a_stream_that_stalls_mid_answer_raises_timeout_after_its_first_deltas(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.answer("one two three", chunk_delay=3, fast_events=1))
    received: list[str] = []

    with pytest.raises(ProviderTimeout):
        for event in make_provider(timeout_s=0.5).stream(QUESTION):
            if isinstance(event, TextDelta):
                received.append(event.text)

    assert received == ["one"]


def test_an_error_event_mid_stream_raises_unavailable(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    fake_gemini.enqueue(Reply.answer("one two three", error_after_chunks=2))
    received: list[str] = []

    with pytest.raises(ProviderUnavailable):
        for event in make_provider().stream(QUESTION):
            if isinstance(event, TextDelta):
                received.append(event.text)

    assert received == ["one", " two"]


def test_an_unreachable_server_raises_unavailable(make_provider: MakeProvider) -> None:
    with FakeGemini() as gone:
        url = gone.base_url

    with pytest.raises(ProviderUnavailable):
        make_provider(base_url=url).complete(QUESTION)


# The SDK folds bare strings into one multi-part content for its multimodal embedding models
# (gemini-embedding-2): one vector for all texts, unless each text is its own content.
@pytest.mark.parametrize("model", ["gemini-embedding-001", "gemini-embedding-2"])
def test_embeddings_are_one_float32_row_per_text(
    fake_gemini: FakeGemini, make_provider: MakeProvider, model: str
) -> None:
    vectors = make_provider(embedding_model=model).embed(["margherita", "coke", "opening hours"])

    assert vectors.shape == (3, FakeGemini.embedding_dimensions)
    assert vectors.dtype == np.float32
    assert not np.allclose(vectors[0], vectors[1])
    sent = fake_gemini.last_request
    assert sent.path.endswith(f"/models/{model}:batchEmbedContents")
    assert [r["content"]["parts"] for r in sent.json["requests"]] == [
        [{"text": "margherita"}],
        [{"text": "coke"}],
        [{"text": "opening hours"}],
    ]


def test_a_base_url_without_key_uses_a_placeholder_key(make_provider: MakeProvider) -> None:
    with FakeGemini() as gateway:
        gateway.enqueue(Reply.answer("Hi through the gateway"))

        completion = make_provider(api_key="", base_url=gateway.base_url).complete(QUESTION)

        assert completion.text == "Hi through the gateway"
        assert gateway.last_request.headers["x-goog-api-key"] == gemini_chat.PLACEHOLDER_KEY


def test_neither_key_nor_base_url_is_not_configured(make_provider: MakeProvider) -> None:
    with pytest.raises(ProviderNotConfigured, match="GEMINI_API_KEY"):
        make_provider(api_key="", base_url="")


def test_a_missing_sdk_names_the_install_command(
    make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)  # makes the import fail

    with pytest.raises(ProviderNotConfigured, match="pip install google-genai"):
        make_provider()


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def test_a_callers_options_become_gemini_generation_settings(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    options = Options(
        temperature=0.3,
        top_p=0.9,
        max_tokens=9999,
        stop=("END",),
        seed=5,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}},
        tool_choice={"type": "function", "function": {"name": "add_item"}},
    )

    make_provider().complete(Prompt(messages=ORDER, tools=[ADD_ITEM], options=options))

    body = fake_gemini.last_request.json
    config = body["generationConfig"]
    assert config["temperature"] == 0.3
    assert config["topP"] == 0.9
    assert config["maxOutputTokens"] == 300  # the deployment's cap, not the caller's 9999
    assert config["stopSequences"] == ["END"]
    assert config["seed"] == 5
    assert (config["presencePenalty"], config["frequencyPenalty"]) == (0.5, -0.5)
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA
    calling = body["toolConfig"]["functionCallingConfig"]
    assert (calling["mode"], calling["allowedFunctionNames"]) == ("ANY", ["add_item"])


def test_tool_choice_none_and_required_are_gemini_modes(
    fake_gemini: FakeGemini, make_provider: MakeProvider
) -> None:
    modes = []
    for choice in ("none", "required", "auto"):
        prompt = Prompt(messages=ORDER, tools=[ADD_ITEM], options=Options(tool_choice=choice))
        make_provider().complete(prompt)
        config = fake_gemini.last_request.json.get("toolConfig", {})
        modes.append(config.get("functionCallingConfig", {}).get("mode"))

    assert modes == ["NONE", "ANY", None]
