"""The OpenAI adapter: chat completions, streaming, tool calls and embeddings through the official
``openai`` SDK, for OpenAI itself or any OpenAI-compatible server (``OPENAI_BASE_URL``)."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from providers.base import Provider, ProviderConfig
from providers.exceptions import (
    ProviderAuthError,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.rendering import render, vendor_schema
from providers.transport import library_of, reconnecting_transport
from providers.types import Completion, Message, Prompt, StreamEvent, TextDelta, ToolCall, Usage

if TYPE_CHECKING:
    import openai

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install openai"
# Local OpenAI-compatible servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK refuses
# to build a client without one.
PLACEHOLDER_KEY = "not-needed"  # noqa: S105 - not a secret, a documented placeholder
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# `providers.types.Options` fields sent under their own name when a caller set them.
_SAMPLING = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


class OpenAIProvider(Provider):
    """Chat completions and embeddings over the OpenAI wire format.

    Malformed tool-call arguments (not a JSON object) become ``{}`` and are logged: the tool's
    own validation then reports what is missing, and the bounded tool loop lets the model retry,
    which is kinder than failing the whole chat on one bad token.
    """

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        try:
            import openai
        except ImportError as err:
            raise ProviderNotConfigured(
                f"The openai SDK is not installed: {INSTALL_HINT}", provider=config.name
            ) from err
        if not (config.api_key or config.base_url):
            raise ProviderNotConfigured(
                "Set OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server.",
                provider=config.name,
            )
        self._sdk = openai
        # Retries are the registry's job (fallbacks); one SDK retry loop per call would multiply
        # the user's wait by three before a fallback is even tried. The transport still sends a
        # request again when the server dropped its kept-alive connection (providers.transport).
        http = library_of(openai.DefaultHttpxClient)
        self._client = openai.OpenAI(
            api_key=config.api_key or PLACEHOLDER_KEY,
            base_url=config.base_url or DEFAULT_BASE_URL,
            timeout=config.timeout_s,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(transport=reconnecting_transport(http)),
        )

    def complete(self, prompt: Prompt, *, model: str | None = None) -> Completion:
        model_name = model or self.config.default_model
        with self._translate_errors():
            response = self._client.chat.completions.create(**self._request(prompt, model_name))
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice else None
        tool_calls = tuple(
            self._tool_call(call.id, call.function.name, call.function.arguments)
            for call in ((message.tool_calls or []) if message else [])
            if call.type == "function"
        )
        return Completion(
            text=(message.content or "") if message else "",
            provider=self.name,
            model=response.model or model_name,
            usage=_usage(response.usage),
            tool_calls=tool_calls,
            finish_reason=(choice.finish_reason if choice else None) or "stop",
        )

    def stream(self, prompt: Prompt, *, model: str | None = None) -> Iterator[StreamEvent]:
        model_name = model or self.config.default_model
        request = self._request(prompt, model_name)
        request["stream_options"] = {"include_usage": True}
        state = _StreamState(model=model_name)
        with self._translate_errors():
            chunks = self._client.chat.completions.create(stream=True, **request)
            with chunks:
                for chunk in chunks:
                    delta = state.absorb(chunk)
                    if delta:
                        yield TextDelta(delta)
        yield Completion(
            text="".join(state.text),
            provider=self.name,
            model=state.model,
            usage=state.usage,
            tool_calls=tuple(
                self._tool_call(call.id, call.name, "".join(call.arguments))
                for _, call in sorted(state.calls.items())
            ),
            finish_reason=state.finish_reason or "stop",
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._translate_errors():
            # "float" because several OpenAI-compatible servers do not speak the SDK's default
            # base64 encoding.
            response = self._client.embeddings.create(
                model=self.config.embedding_model,
                input=list(texts),
                encoding_format="float",
            )
        rows = sorted(response.data, key=lambda item: item.index)
        return np.asarray([row.embedding for row in rows], dtype=np.float32)

    def _request(self, prompt: Prompt, model: str) -> dict[str, Any]:
        rendered = render(prompt)
        messages: list[dict[str, Any]] = []
        if rendered.system:
            messages.append({"role": "system", "content": rendered.system})
        messages += [_message(m) for m in rendered.messages]
        request: dict[str, Any] = {"model": model, "messages": messages}
        # OpenAI deprecated max_tokens, but most OpenAI-compatible servers only know that one.
        limit_key = "max_tokens" if self.config.base_url else "max_completion_tokens"
        options = prompt.options
        request[limit_key] = min(options.max_tokens or math.inf, self.config.max_output_tokens)
        for name in _SAMPLING:
            if (value := getattr(options, name)) is not None:
                request[name] = value
        if options.stop:
            request["stop"] = list(options.stop)
        if options.response_format is not None:
            request["response_format"] = dict(options.response_format)
        if prompt.tools:
            if options.tool_choice is not None:
                request["tool_choice"] = options.tool_choice
            if options.parallel_tool_calls is not None:
                request["parallel_tool_calls"] = options.parallel_tool_calls
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": vendor_schema(tool.parameters),
                    },
                }
                for tool in prompt.tools
            ]
        return request

    def _tool_call(self, call_id: str, name: str, arguments: str) -> ToolCall:
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            logger.warning(
                "%s: tool call %s to %s has malformed arguments %r; using {}",
                self.name,
                call_id,
                name,
                arguments[:200],
            )
            parsed = {}
        return ToolCall(id=call_id, name=name, arguments=parsed, raw=arguments)

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """Turn the SDK's exceptions, raised by a call or mid-stream, into ``ProviderError``s.

        An SDK error's text carries the vendor's response body (which may echo our prompt, a
        key's prefix or account details): it goes to the log, never into the message that
        reaches the client.
        """
        sdk = self._sdk
        try:
            yield
        except ProviderError:
            raise
        except sdk.APIError as err:
            logger.warning("%s call failed: %s", self.name, err)
            raise _translate(sdk, err, self.name) from err
        except sdk.OpenAIError as err:
            logger.warning("%s SDK error: %s", self.name, err)
            raise ProviderError(f"The {self.name} SDK failed.", provider=self.name) from err
        except json.JSONDecodeError as err:  # a compatible server sent a broken event
            raise ProviderUnavailable(
                f"{self.name} sent an unreadable answer.", provider=self.name
            ) from err


def _translate(sdk: Any, err: openai.APIError, provider: str) -> ProviderError:
    # Order matters: APITimeoutError is an APIConnectionError, OAuthError an AuthenticationError.
    if isinstance(err, sdk.APITimeoutError):
        return ProviderTimeout(f"{provider} did not answer in time.", provider=provider)
    if isinstance(err, sdk.APIConnectionError):
        return ProviderUnavailable(f"{provider} could not be reached.", provider=provider)
    status = getattr(err, "status_code", None)
    http = f" (HTTP {status})" if status else ""
    if isinstance(err, sdk.AuthenticationError | sdk.PermissionDeniedError):
        return ProviderAuthError(f"{provider} refused our credentials{http}.", provider=provider)
    if isinstance(err, sdk.RateLimitError):
        return ProviderRateLimited(
            f"{provider} is rate limiting us{http}.",
            provider=provider,
            retry_after=retry_after_seconds(err.response.headers),
        )
    invalid = (
        sdk.BadRequestError,
        sdk.NotFoundError,
        sdk.UnprocessableEntityError,
        sdk.ConflictError,
    )
    if isinstance(err, invalid):
        return ProviderInvalidRequest(f"{provider} rejected the request{http}.", provider=provider)
    if isinstance(err, sdk.APIStatusError) and err.status_code < 500:
        return ProviderError(f"{provider} answered HTTP {err.status_code}.", provider=provider)
    # 5xx, or an error event in the middle of a stream.
    return ProviderUnavailable(f"{provider} failed{http}.", provider=provider)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's Retry-After hint in seconds (``retry-after-ms``, seconds or an HTTP date)."""
    if value := headers.get("retry-after-ms"):
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": call.raw or json.dumps(call.arguments),
                    },
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0
    )


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _StreamState:
    """What a stream has said so far: text, tool calls assembled by index, usage, finish."""

    model: str
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    def absorb(self, chunk: Any) -> str:
        """Record one chunk; return its text delta ("" when it carries none)."""
        if chunk.model:
            self.model = chunk.model
        # With include_usage the usage arrives in a final chunk with no choices; some servers
        # repeat it on every chunk, so the last one wins.
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        delta = choice.delta
        for position, piece in enumerate(delta.tool_calls or []):
            index = piece.index if piece.index is not None else position
            call = self.calls.setdefault(index, _PartialCall())
            call.id = piece.id or call.id or f"call_{index}"
            if piece.function is not None:
                call.name = piece.function.name or call.name
                if piece.function.arguments:
                    call.arguments.append(piece.function.arguments)
        if delta.content:
            self.text.append(delta.content)
            return delta.content
        return ""
