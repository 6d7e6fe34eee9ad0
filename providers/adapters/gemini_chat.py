"""The Gemini adapter: content generation, streaming, function calls and embeddings through
Google's maintained ``google-genai`` SDK."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

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
from providers.transport import reconnecting_transport
from providers.types import Completion, Message, Prompt, StreamEvent, TextDelta, ToolCall, Usage

INSTALL_HINT = "pip install google-genai"
# The SDK refuses to build a client without a key, while a local Gemini-compatible server or a
# gateway that authenticates by other means needs none.
PLACEHOLDER_KEY = "not-needed"
# Gemini may return function calls without ids; ours are marked so that they are never sent back
# to Gemini as if it had issued them.
GENERATED_ID_PREFIX = "gemini-call-"
# Documented by Google for function calls whose thought signature was lost (history from another
# process or another model): it tells Gemini 3+ to skip signature validation instead of failing.
SKIP_SIGNATURE = b"skip_thought_signature_validator"
_REMEMBERED_SIGNATURES = 2048
_CONTENT_FILTER_REASONS = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
}

log = logging.getLogger(__name__)


class GeminiProvider(Provider):
    """Gemini through ``client.models``; automatic function calling is off, tools run on our side.

    Thinking models sign their function calls, and Gemini 3+ rejects a follow-up request whose
    calls lost their signature. ``ToolCall`` has no field for it, so the adapter remembers the
    signatures of the calls it returned (bounded, per process) and sends them back with the
    matching calls; a call it does not remember gets Google's documented skip sentinel.
    """

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        try:
            from google import genai
            from google.genai import errors, types
        except ImportError as err:
            raise ProviderNotConfigured(
                f"The google-genai SDK is not installed: {INSTALL_HINT}", provider=config.name
            ) from err
        if not (config.api_key or config.base_url):
            raise ProviderNotConfigured(
                "Set GEMINI_API_KEY, or GEMINI_BASE_URL for a Gemini-compatible server.",
                provider=config.name,
            )
        self._types = types
        self._errors = errors
        self._timeout_errors, self._transport_errors = _http_errors()
        self._signatures: OrderedDict[str, bytes] = OrderedDict()
        self._signatures_lock = threading.Lock()
        # The SDK's default retry policy is none; keep it that way, the registry falls back. The
        # transport still sends a request again when the server dropped its kept-alive connection
        # (providers.transport); the SDK runs on the httpx flavour the transport is of.
        self._client = genai.Client(
            vertexai=False,
            api_key=config.api_key or PLACEHOLDER_KEY,
            http_options=types.HttpOptions(
                base_url=config.base_url or None,
                timeout=max(int(config.timeout_s * 1000), 1),
                client_args={"transport": reconnecting_transport(_http_library())},
            ),
        )

    def complete(self, prompt: Prompt, *, model: str | None = None) -> Completion:
        model_name = model or self.config.default_model
        state = _ResponseState(model=model_name)
        with self._translate_errors():
            response = self._client.models.generate_content(
                model=model_name, **self._request(prompt)
            )
        state.absorb(response, self._remember)
        return state.completion(self.name)

    def stream(self, prompt: Prompt, *, model: str | None = None) -> Iterator[StreamEvent]:
        model_name = model or self.config.default_model
        state = _ResponseState(model=model_name)
        with self._translate_errors():
            chunks = self._client.models.generate_content_stream(
                model=model_name, **self._request(prompt)
            )
            for chunk in chunks:
                delta = state.absorb(chunk, self._remember)
                if delta:
                    yield TextDelta(delta)
        yield state.completion(self.name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        types = self._types
        # One Content per text: given bare strings, the SDK folds them into a single multi-part
        # content (one vector for all) for its multimodal embedding models.
        contents = [types.Content(role="user", parts=[types.Part(text=text)]) for text in texts]
        with self._translate_errors():
            response = self._client.models.embed_content(
                model=self.config.embedding_model, contents=contents
            )
        rows = [embedding.values or [] for embedding in response.embeddings or []]
        if len(rows) != len(texts):
            raise ProviderUnavailable(
                f"{self.name} returned {len(rows)} embeddings for {len(texts)} texts.",
                provider=self.name,
            )
        return np.asarray(rows, dtype=np.float32)

    def _request(self, prompt: Prompt) -> dict[str, Any]:
        rendered = render(prompt)
        return {
            "contents": self._contents(rendered.messages),
            "config": self._config(rendered.system, prompt),
        }

    def _config(self, system: str, prompt: Prompt) -> Any:
        types = self._types
        tools = None
        if prompt.tools:
            declarations = [
                types.FunctionDeclaration(
                    name=tool.name,
                    description=tool.description,
                    parameters_json_schema=vendor_schema(tool.parameters),
                )
                for tool in prompt.tools
            ]
            tools = [types.Tool(function_declarations=declarations)]
        options = prompt.options
        return types.GenerateContentConfig(
            system_instruction=system or None,
            tools=tools,
            tool_config=_tool_config(types, options.tool_choice) if tools else None,
            max_output_tokens=min(
                options.max_tokens or self.config.max_output_tokens, self.config.max_output_tokens
            ),
            temperature=options.temperature,
            top_p=options.top_p,
            seed=options.seed,
            presence_penalty=options.presence_penalty,
            frequency_penalty=options.frequency_penalty,
            stop_sequences=list(options.stop) or None,
            **_response_format(options.response_format),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            # A dropped stream must surface as an error for the registry to fall back on, not be
            # silently resumed by the SDK past our timeout.
            automatic_continuation=False,
        )

    def _contents(self, messages: Sequence[Message]) -> list[Any]:
        types = self._types
        contents: list[Any] = []
        names_by_call_id: dict[str, str] = {}
        for message in messages:
            if message.role == "tool":
                part = self._function_response(message, names_by_call_id)
                # Answers to one turn's parallel calls travel together in one user turn.
                if contents and contents[-1].role == "user" and _all_responses(contents[-1]):
                    contents[-1].parts.append(part)
                else:
                    contents.append(types.Content(role="user", parts=[part]))
                continue
            parts = [types.Part(text=message.content)] if message.content else []
            if message.role == "assistant":
                for call in message.tool_calls:
                    names_by_call_id[call.id] = call.name
                parts += self._function_calls(message.tool_calls)
            if parts:
                role = "model" if message.role == "assistant" else "user"
                # Passages and the customer's message go as two parts of one user turn: Gemini
                # may refuse two user turns in a row.
                last = contents[-1] if contents else None
                if role == "user" and last and last.role == "user" and not _all_responses(last):
                    last.parts.extend(parts)
                else:
                    contents.append(types.Content(role=role, parts=parts))
        return contents

    def _function_calls(self, calls: Sequence[ToolCall]) -> list[Any]:
        types = self._types
        with self._signatures_lock:
            known = {call.id: self._signatures.get(call.id) for call in calls}
        # Only the first call of a parallel batch is signed; if we remember none of them the
        # history came from elsewhere, and the first call gets the skip sentinel.
        if calls and not any(known.values()):
            known[calls[0].id] = SKIP_SIGNATURE
        return [
            types.Part(
                function_call=types.FunctionCall(
                    id=_vendor_id(call.id), name=call.name, args=dict(call.arguments)
                ),
                thought_signature=known.get(call.id),
            )
            for call in calls
        ]

    def _function_response(self, message: Message, names_by_call_id: dict[str, str]) -> Any:
        types = self._types
        call_id = message.tool_call_id or ""
        name = message.name or names_by_call_id.get(call_id, "")
        return types.Part(
            function_response=types.FunctionResponse(
                id=_vendor_id(call_id), name=name, response=_tool_result(message.content)
            )
        )

    def _remember(self, call_id: str, signature: bytes | None) -> None:
        if not signature:
            return
        with self._signatures_lock:
            self._signatures[call_id] = signature
            self._signatures.move_to_end(call_id)
            while len(self._signatures) > _REMEMBERED_SIGNATURES:
                self._signatures.popitem(last=False)

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """Turn SDK and transport exceptions, raised by a call or mid-stream, into ours.

        The SDK's error text is the vendor's response body (or the transport's, naming hosts):
        it goes to the log, never into the message that reaches the client.
        """
        errors, name = self._errors, self.name
        try:
            yield
        except ProviderError:
            raise
        except errors.APIError as err:
            log.warning("%s call failed: %s", name, err)
            raise _translate(errors, err, name) from err
        except self._timeout_errors as err:
            raise ProviderTimeout(f"{name} did not answer in time.", provider=name) from err
        except self._transport_errors as err:
            log.warning("%s could not be reached: %s", name, err)
            raise ProviderUnavailable(f"{name} could not be reached.", provider=name) from err
        except (errors.UnknownApiResponseError, json.JSONDecodeError) as err:
            log.warning("%s sent an unreadable answer: %s", name, err)
            raise ProviderUnavailable(f"{name} sent an unreadable answer.", provider=name) from err


def _tool_config(types: Any, choice: str | Mapping[str, Any] | None) -> Any:
    """OpenAI's ``tool_choice`` as Gemini's function-calling mode."""
    if choice is None or choice == "auto":
        return None
    if choice == "none":
        return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="NONE"))
    names = None if choice == "required" else [choice["function"]["name"]]  # type: ignore[index]
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode="ANY", allowed_function_names=names
        )
    )


def _response_format(response_format: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenAI's ``response_format`` as Gemini's JSON mode (with the schema, if one was given)."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return {}
    config: dict[str, Any] = {"response_mime_type": "application/json"}
    if kind == "json_schema":
        config["response_json_schema"] = response_format["json_schema"].get("schema", {})  # type: ignore[index]
    return config


def _translate(errors: Any, err: Any, provider: str) -> ProviderError:
    code = int(err.code or 0)
    http = f" (HTTP {code})" if code else ""
    if code in (401, 403) or _is_bad_key(err):
        return ProviderAuthError(f"{provider} refused our credentials{http}.", provider=provider)
    if code == 429:
        return ProviderRateLimited(
            f"{provider} is rate limiting us{http}.",
            provider=provider,
            retry_after=_retry_after(err),
        )
    if code == 408:
        return ProviderTimeout(f"{provider} timed out{http}.", provider=provider)
    if code in (400, 404, 409, 422):
        return ProviderInvalidRequest(f"{provider} rejected the request{http}.", provider=provider)
    if isinstance(err, errors.ServerError) or code >= 500 or code == 0:
        # code 0: an error event in the middle of a stream that named no status.
        return ProviderUnavailable(f"{provider} failed{http}.", provider=provider)
    return ProviderError(f"{provider} answered HTTP {code}.", provider=provider)


def _is_bad_key(err: Any) -> bool:
    # Gemini answers an invalid key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
    return any(detail.get("reason") == "API_KEY_INVALID" for detail in _error_details(err))


def _retry_after(err: Any) -> float | None:
    """Seconds to wait: the Retry-After header, else the body's google.rpc.RetryInfo."""
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
    for detail in _error_details(err):
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (match := re.fullmatch(r"(\d+(?:\.\d+)?)s", delay)):
            return float(match.group(1))
    return None


def _error_details(err: Any) -> list[dict[str, Any]]:
    body = err.details if isinstance(err.details, dict) else {}
    details = body.get("error", body).get("details") or []
    return [detail for detail in details if isinstance(detail, dict)]


def _http_library() -> ModuleType:
    """The httpx flavour the SDK would pick itself: ``GOOGLE_GENAI_HTTP_CLIENT``, else httpx2."""
    chosen = os.environ.get("GOOGLE_GENAI_HTTP_CLIENT", "").strip().lower()
    for name in [chosen] if chosen in ("httpx", "httpx2") else ["httpx2", "httpx"]:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ProviderNotConfigured(f"Neither httpx2 nor httpx is installed: {INSTALL_HINT}")


def _http_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """Timeout and transport exception classes of whichever httpx flavour the SDK runs on."""
    timeouts: list[type[Exception]] = []
    transport: list[type[Exception]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.TransportError)
    return tuple(timeouts), tuple(transport)


def _vendor_id(call_id: str) -> str | None:
    return None if not call_id or call_id.startswith(GENERATED_ID_PREFIX) else call_id


def _tool_result(content: str) -> dict[str, Any]:
    """Gemini wants a JSON object back; anything else is wrapped as ``{"output": ...}``."""
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return {"output": content}
    return value if isinstance(value, dict) else {"output": value}


def _all_responses(content: Any) -> bool:
    return all(part.function_response is not None for part in content.parts or [])


def _generated_id(name: str, args: dict[str, Any], index: int) -> str:
    digest = hashlib.sha256(
        json.dumps([name, args, index], sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{GENERATED_ID_PREFIX}{index}-{digest[:12]}"


@dataclass
class _ResponseState:
    """What Gemini has said so far, across one response or all chunks of a stream."""

    model: str
    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    def absorb(self, response: Any, remember: Any) -> str:
        """Record one response (or chunk); return its visible text ("" when none)."""
        if response.model_version:
            self.model = response.model_version
        if response.usage_metadata is not None:
            # In a stream every chunk repeats the running totals, so the last one wins.
            self.usage = _usage(response.usage_metadata)
        candidates = response.candidates or []
        if not candidates:
            feedback = response.prompt_feedback
            if feedback is not None and feedback.block_reason:
                self.finish_reason = "content_filter"
            return ""
        candidate = candidates[0]
        if candidate.finish_reason:
            self.finish_reason = _finish_reason(candidate.finish_reason)
        delta: list[str] = []
        for part in (candidate.content.parts if candidate.content else None) or []:
            if part.function_call is not None:
                call = part.function_call
                args = dict(call.args or {})
                call_id = call.id or _generated_id(call.name or "", args, len(self.calls))
                self.calls.append(ToolCall(id=call_id, name=call.name or "", arguments=args))
                remember(call_id, part.thought_signature)
            elif part.text and not part.thought:
                delta.append(part.text)
        self.text += delta
        return "".join(delta)

    def completion(self, provider: str) -> Completion:
        finish = self.finish_reason or "stop"
        if self.calls and finish == "stop":
            finish = "tool_calls"
        return Completion(
            text="".join(self.text),
            provider=provider,
            model=self.model,
            usage=self.usage,
            tool_calls=tuple(self.calls),
            finish_reason=finish,
        )


def _usage(metadata: Any) -> Usage:
    # Thinking tokens are billed as output, so they count as completion tokens.
    completion = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return Usage(prompt_tokens=metadata.prompt_token_count or 0, completion_tokens=completion)


def _finish_reason(reason: Any) -> str:
    value = getattr(reason, "value", str(reason))
    if value == "STOP":
        return "stop"
    if value == "MAX_TOKENS":
        return "length"
    if value in _CONTENT_FILTER_REASONS:
        return "content_filter"
    return str(value).lower()
