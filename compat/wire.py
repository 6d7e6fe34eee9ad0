"""OpenAI's chat-completions wire format: a request's messages, tools and parameters as Tally's
provider types, and a finished turn as a completion body or as stream chunks.

Only the shapes live here; `compat.views` runs the turn through the same pipeline as
`/api/chat/`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chat.exceptions import UnsupportedParameter
from chat.pipeline import Answer
from compat.exceptions import ModelNotFound
from core.errors import FieldError
from orders.serializers import OrderOutput
from providers import registry
from providers.types import Message, Options, ToolCall, ToolSpec

ASSISTANT = "tally-assistant"
# When the model list came to be; OpenAI's `created` is a model's release, which ours have none of.
CREATED = 1_764_547_200  # 2025-12-01

# What a request may carry. Anything else is refused by name, as OpenAI refuses an unknown
# argument, rather than silently ignored (say `logprobs` or `n`).
PARAMETERS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "n",
        "user",
    }
)


@dataclass(frozen=True)
class Choice:
    """The model a request named: the shop assistant (``provider`` and ``model`` are then the
    deployment's default) or a plain provider model."""

    id: str
    provider: str | None
    model: str | None

    @property
    def plain(self) -> bool:
        return self.id != ASSISTANT


def models() -> list[dict[str, Any]]:
    """The model objects of `GET /v1/models`: the assistant, then every allow-listed model."""
    ids = [(ASSISTANT, "tally")]
    ids += [(f"{p}/{m}", p) for p, names in registry.allowed_models().items() for m in names]
    return [
        {"id": id_, "object": "model", "created": CREATED, "owned_by": owner} for id_, owner in ids
    ]


def choose(model_id: str) -> Choice:
    """The `Choice` for a model id, or `ModelNotFound` (404) naming the ones there are."""
    if model_id == ASSISTANT:
        return Choice(ASSISTANT, None, None)
    provider, _, model = model_id.partition("/")
    if model in registry.allowed_models().get(provider, ()):
        return Choice(model_id, provider, model)
    known = ", ".join(m["id"] for m in models())
    raise ModelNotFound(f"The model {model_id!r} does not exist. Models: {known}.")


@dataclass(frozen=True)
class Parsed:
    """A valid request, in Tally's terms."""

    choice: Choice
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]
    options: Options
    stream: bool
    include_usage: bool


def parse(data: Any) -> Parsed:
    """Check a request body as OpenAI does and translate it; `FieldError`-shaped errors name
    the parameter (`UnsupportedParameter` for what Tally does not take)."""
    if not isinstance(data, Mapping):
        raise Invalid("The request body must be a JSON object.", field="body")
    for name in data:
        if name not in PARAMETERS:
            raise UnsupportedParameter(
                f"Unrecognized request argument supplied: {name}.", parameter=name
            )
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise Invalid("You must provide a model parameter.", field="model")
    choice = choose(model)
    if data.get("n") not in (None, 1):
        raise UnsupportedParameter("Only one choice (n=1) is generated.", parameter="n")
    tools = _tools(data.get("tools"))
    if not choice.plain:
        for name in ("tools", "tool_choice", "parallel_tool_calls"):
            if data.get(name) is not None:
                raise UnsupportedParameter(
                    f"{ASSISTANT} runs its own order tools; {name!r} is for the plain models.",
                    parameter=name,
                )
    messages = _messages(data.get("messages"), plain=choice.plain)
    stream = bool(_boolean(data, "stream", default=False))
    stream_options = data.get("stream_options") or {}
    if not isinstance(stream_options, Mapping):
        raise Invalid("stream_options must be an object.", field="stream_options")
    return Parsed(
        choice=choice,
        messages=messages,
        tools=tools,
        options=_options(data, tools),
        stream=stream,
        include_usage=stream and bool(stream_options.get("include_usage")),
    )


class Invalid(FieldError):
    """A parameter with a value OpenAI's API would refuse (HTTP 400, naming it)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _number(data: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise Invalid(f"{name} must be a number from {low:g} to {high:g}.", field=name)
    return float(value)


def _integer(data: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{name} must be an integer from {low} to {high}.", field=name)
    return value


def _boolean(data: Mapping[str, Any], name: str, *, default: bool | None) -> bool | None:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false.", field=name)
    return value


def _options(data: Mapping[str, Any], tools: Sequence[ToolSpec]) -> Options:
    limit = _integer(data, "max_completion_tokens", 1, 2**31) or _integer(
        data, "max_tokens", 1, 2**31
    )
    stop = data.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (
        isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) and s for s in stop)
    ):
        raise Invalid("stop must be a string or a list of up to 4 strings.", field="stop")
    return Options(
        temperature=_number(data, "temperature", 0, 2),
        top_p=_number(data, "top_p", 0, 1),
        max_tokens=min(limit, settings.LLM_MAX_OUTPUT_TOKENS) if limit else None,
        stop=tuple(stop or ()),
        seed=_integer(data, "seed", -(2**63), 2**63 - 1),
        presence_penalty=_number(data, "presence_penalty", -2, 2),
        frequency_penalty=_number(data, "frequency_penalty", -2, 2),
        response_format=_response_format(data.get("response_format")),
        tool_choice=_tool_choice(data.get("tool_choice"), tools),
        parallel_tool_calls=_boolean(data, "parallel_tool_calls", default=None),
    )


def _response_format(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        schema = value.get("json_schema")
        if isinstance(schema, Mapping) and isinstance(schema.get("name"), str):
            return {"type": kind, "json_schema": dict(schema)}
        raise Invalid(
            "response_format.json_schema needs a name and a schema.", field="response_format"
        )
    raise Invalid(
        "response_format.type must be 'text', 'json_object' or 'json_schema'.",
        field="response_format",
    )


def _tool_choice(value: Any, tools: Sequence[ToolSpec]) -> str | Mapping[str, Any] | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        if value == "required" and not tools:
            raise Invalid("tool_choice 'required' needs tools.", field="tool_choice")
        return str(value)
    name = None
    if isinstance(value, Mapping) and value.get("type") == "function":
        function = value.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or name not in {tool.name for tool in tools}:
        raise Invalid(
            "tool_choice must be 'auto', 'none', 'required' or a function among the tools.",
            field="tool_choice",
        )
    return {"type": "function", "function": {"name": name}}


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Invalid("tools must be a list.", field="tools")
    specs = []
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or tool.get("type") != "function":
            raise Invalid("Each tool must be a function with a name.", field=f"tools[{index}]")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise Invalid("Each tool must be a function with a name.", field=f"tools[{index}]")
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, Mapping):
            raise Invalid("A function's parameters must be a JSON schema.", field=f"tools[{index}]")
        specs.append(ToolSpec(name, str(function.get("description") or ""), dict(parameters)))
    return tuple(specs)


def _text(content: Any, field: str) -> str:
    """A message's content: a string, or a list of text parts (the only kind Tally reads)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not (isinstance(part, Mapping) and part.get("type") == "text"):
                raise UnsupportedParameter(
                    "Only text content parts are supported.", parameter=field
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise Invalid("content must be a string or a list of content parts.", field=field)


def _messages(value: Any, *, plain: bool) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid("messages must be a non-empty list.", field="messages")
    names_by_call: dict[str, str] = {}
    messages = []
    for index, item in enumerate(value):
        field = f"messages[{index}]"
        role = item.get("role") if isinstance(item, Mapping) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise Invalid(
                "role must be one of system, developer, user, assistant, tool.", field=field
            )
        content = _text(item.get("content"), f"{field}.content")
        if "\x00" in content:  # PostgreSQL cannot store it; `/api/chat/` refuses it too
            raise Invalid("Null characters are not allowed.", field=f"{field}.content")
        if role in ("tool",) or item.get("tool_calls"):
            if not plain:
                raise Invalid(
                    f"{ASSISTANT} runs its own tools; send tool turns to a plain model.",
                    field=field,
                )
        if role == "tool":
            call_id = item.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in names_by_call:
                raise Invalid(
                    "A tool message answers a tool_call_id of an earlier assistant message.",
                    field=f"{field}.tool_call_id",
                )
            messages.append(
                Message("tool", content, tool_call_id=call_id, name=names_by_call[call_id])
            )
            continue
        calls = _calls(item.get("tool_calls"), f"{field}.tool_calls") if role == "assistant" else ()
        names_by_call.update({call.id: call.name for call in calls})
        messages.append(
            Message("system" if role == "developer" else role, content, tool_calls=calls)
        )
    last = messages[-1]
    if last.role not in (("user", "tool") if plain else ("user",)):
        raise Invalid(
            "The last message must be the user's" + (" or a tool result." if plain else "."),
            field="messages",
        )
    latest = f"messages[{len(messages) - 1}].content"
    if not last.content.strip():
        raise Invalid("The last message may not be blank.", field=latest)
    if len(last.content) > settings.CHAT_MAX_CHARS:
        raise Invalid(
            f"The last message has more than {settings.CHAT_MAX_CHARS} characters.", field=latest
        )
    if (total := sum(len(m.content) for m in messages)) > max_conversation_chars():
        raise Invalid(
            f"The messages hold {total} characters; at most {max_conversation_chars()} fit "
            "one chat's price (CHAT_MAX_CHARS plus CHAT_HISTORY_TOKEN_BUDGET's worth).",
            field="messages",
        )
    return tuple(messages)


def max_conversation_chars() -> int:
    """The most text a request's messages may hold: what one `/api/chat/` turn can send a
    model (its message, and its history budget at about four characters a token)."""
    return settings.CHAT_MAX_CHARS + 4 * settings.CHAT_HISTORY_TOKEN_BUDGET


def _calls(value: Any, field: str) -> tuple[ToolCall, ...]:
    """An assistant message's earlier tool calls, with their arguments as the model wrote
    them (a call cut short by a length limit is sent back as it was)."""
    if value is None:
        return ()
    calls = []
    for index, call in enumerate(value if isinstance(value, list) else [None]):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            function = {}
        name, raw, id_ = function.get("name"), function.get("arguments"), (call or {}).get("id")
        if not (isinstance(name, str) and isinstance(raw, str) and isinstance(id_, str)):
            raise Invalid(
                "A tool call needs an id, a function name and its arguments as a string.",
                field=f"{field}[{index}]",
            )
        try:
            arguments = json.loads(raw or "{}")
        except ValueError:
            arguments = {}
        calls.append(
            ToolCall(
                id=id_,
                name=name,
                arguments=arguments if isinstance(arguments, dict) else {},
                raw=raw,
            )
        )
    return tuple(calls)


# --- answers ----------------------------------------------------------------------------------


def completion_id(reference: str) -> str:
    """The completion's id, from the turn's ledger reference (`chat:<hex>`)."""
    return "chatcmpl-" + reference.partition(":")[2]


def body(answer: Answer, *, choice: Choice, id_: str, created: int | None = None) -> dict[str, Any]:
    """The `chat.completion` object for a finished turn, with Tally's own facts under `tally`."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.response, "refusal": None}
    if answer.tool_calls:
        message["content"] = answer.response or None
        message["tool_calls"] = _wire_calls(answer.tool_calls)
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": f"{answer.provider}/{answer.model}" if choice.plain else ASSISTANT,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish(answer),
                "logprobs": None,
            }
        ],
        "usage": usage(answer.usage),
        "system_fingerprint": None,
        "tally": {
            "tokens_charged": answer.tokens_charged,
            "tokens_remaining": answer.tokens_remaining,
            "conversation": answer.conversation,
            "message_id": answer.message_id,
            "usage_counted": answer.usage["counted"],
            "sources": answer.sources,
            # As `/api/chat/` writes it: decimals and times as strings, so the body is JSON.
            "order": OrderOutput(answer.order).data if answer.order else None,
        },
    }


def usage(counts: Mapping[str, Any]) -> dict[str, int]:
    prompt, completion = counts["prompt_tokens"], counts["completion_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _finish(answer: Answer) -> str:
    reason = answer.finish_reason
    if reason == "length":  # even with tool calls: their arguments may be cut short
        return reason
    if answer.tool_calls:
        return "tool_calls"
    return reason if reason in ("stop", "length", "content_filter") else "stop"


def _wire_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.raw or json.dumps(call.arguments)},
        }
        for call in calls
    ]


def chunk(
    model: str, id_: str, created: int, delta: Mapping[str, Any], *, finish: str | None = None
) -> dict[str, Any]:
    """One `chat.completion.chunk`."""
    return {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish, "logprobs": None}],
    }


def closing_chunks(
    completion: Mapping[str, Any], *, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """After the text: the tool calls, the finish reason (with `tally`), then the usage if asked.

    ``completion`` is the turn's `body`, so a replayed stream ends exactly as the first did.
    """
    id_, created, model = completion["id"], completion["created"], completion["model"]
    choice = completion["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    if calls:
        pieces = [{"index": index, **call} for index, call in enumerate(calls)]
        yield chunk(model, id_, created, {"tool_calls": pieces})
    last = chunk(model, id_, created, {}, finish=choice["finish_reason"])
    yield {**last, "tally": completion["tally"]}
    if include_usage:
        yield {**chunk(model, id_, created, {}), "choices": [], "usage": completion["usage"]}


def sse(payload: Mapping[str, Any] | str) -> bytes:
    """One `data:` line of OpenAI's stream (`[DONE]` is sent as is)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
