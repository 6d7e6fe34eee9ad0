"""The built-in offline assistant: deterministic, instant, needs no key, and makes Tally usable.

It quotes the shop's documents, recognises order intents and calls the same order tools a real
model would, and embeds texts with the hashing embedder of ``providers.text``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from providers.base import Provider
from providers.text import count_tokens, hashing_embed
from providers.types import (
    Completion,
    Options,
    Prompt,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

from .dialogue import Reply, respond
from .items import PlannedCall

__all__ = ["LocalProvider"]


class LocalProvider(Provider):
    """The ``local`` provider: no network, no model weights, the same answer every time."""

    def count_tokens(self, text: str) -> int:
        """Exactly what this assistant's usage counts (``providers.text.count_tokens``)."""
        return count_tokens(text)

    def complete(self, prompt: Prompt, *, model: str | None = None) -> Completion:
        if prompt.options.tool_choice == "none":
            prompt = replace(prompt, tools=())
        reply = respond(prompt)
        calls = tuple(
            _tool_call(call, index, _last_user_text(prompt))
            for index, call in enumerate(reply.calls)
        )
        text, finish = _within(reply.text, prompt.options)
        return Completion(
            text=text,
            provider=self.name,
            model=model or self.config.default_model,
            usage=Usage(
                prompt_tokens=prompt_tokens(prompt),
                completion_tokens=_written(replace(reply, text=text), calls),
            ),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else finish,
        )

    def unsupported(self, options: Options, tools: Sequence[ToolSpec]) -> str | None:
        """It writes plain text, and calls a tool only when the conversation asks for it: JSON
        modes and forcing a tool call are beyond it. Sampling settings are accepted and change
        nothing (it is deterministic)."""
        if (options.response_format or {}).get("type", "text") != "text":
            return "response_format"
        if options.tool_choice not in (None, "auto", "none"):
            return "tool_choice"
        return None

    def stream(self, prompt: Prompt, *, model: str | None = None) -> Iterator[StreamEvent]:
        completion = self.complete(prompt, model=model)
        if not completion.tool_calls:
            for piece in split_for_streaming(completion.text):
                yield TextDelta(piece)
        yield completion

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return hashing_embed(texts)


def prompt_tokens(prompt: Prompt) -> int:
    """Tokens the assistant read: system text, passages, every message and the tool schemas."""
    total = count_tokens(prompt.system)
    for passage in prompt.passages:
        total += count_tokens(passage.source) + count_tokens(passage.text)
    for message in prompt.messages:
        total += 1 + count_tokens(message.content)  # the role is one token
        for call in message.tool_calls:
            total += count_tokens(_call_json(call.name, call.arguments))
    return total + sum(_schema_tokens(tool) for tool in prompt.tools)


def _schema_tokens(tool: ToolSpec) -> int:
    schema = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return count_tokens(json.dumps(schema, sort_keys=True, default=str))


def _within(text: str, options: Options) -> tuple[str, str]:
    """``text`` cut before the first stop sequence, then to ``max_tokens`` whole words, with the
    finish reason OpenAI gives for each (``stop``, ``length``)."""
    cuts = [text.find(stop) for stop in options.stop if stop in text]
    if cuts:
        text = text[: min(cuts)]
    if options.max_tokens is None or count_tokens(text) <= options.max_tokens:
        return text, "stop"
    pieces = split_for_streaming(text)
    while pieces and count_tokens("".join(pieces)) > options.max_tokens:
        pieces.pop()
    return "".join(pieces).rstrip(), "length"


def split_for_streaming(text: str) -> list[str]:
    """``text`` in word-sized pieces, each word with its following spaces; they join exactly."""
    return re.findall(r"\S+\s*|\s+", text)


def _written(reply: Reply, calls: Sequence[ToolCall]) -> int:
    return count_tokens(reply.text) + sum(
        count_tokens(_call_json(call.name, call.arguments)) for call in calls
    )


def _tool_call(call: PlannedCall, index: int, context: str) -> ToolCall:
    # Deterministic ids; the user's words go into the hash so that the same call made for
    # different messages of a conversation still gets a distinct id.
    seed = f"{index}\n{_call_json(call.name, call.arguments)}\n{context}"
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]
    return ToolCall(id=f"call_{digest}", name=call.name, arguments=dict(call.arguments))


def _call_json(name: str, arguments: Any) -> str:
    return json.dumps({"name": name, "arguments": dict(arguments)}, sort_keys=True, default=str)


def _last_user_text(prompt: Prompt) -> str:
    for message in reversed(prompt.messages):
        if message.role == "user":
            return message.content
    return ""
