"""The typed contract every provider speaks: prompts and tool schemas in, completions out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A request from the model to run one tool with JSON arguments."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    # The arguments as the model wrote them, when a vendor sent JSON text: what a client of the
    # OpenAI-compatible API gets back (cut short by a length limit, it may not parse).
    raw: str = field(default="", compare=False)


@dataclass(frozen=True)
class Message:
    """One turn of a conversation.

    An assistant turn may carry ``tool_calls``; a ``tool`` turn answers one of them and names it
    through ``tool_call_id`` and ``name``; its ``content`` is the tool's JSON result.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call. ``parameters`` is a JSON Schema object.

    Keys starting with ``x-`` are hints for the offline assistant (for instance the catalog's
    names and aliases); adapters strip them before the schema reaches a vendor.
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True)
class Passage:
    """A piece of retrieved context: a document chunk, a past exchange or a catalog entry."""

    source: str
    text: str
    score: float = 0.0
    kind: Literal["document", "memory", "catalog"] = "document"
    # Only its user may see it (a memory, a private document, their draft order): an answer
    # built from it is never served from the cache to anyone else.
    private: bool = False


@dataclass(frozen=True)
class Options:
    """How a caller asked the model to write (the OpenAI-compatible endpoint's parameters, in
    OpenAI's own shapes); ``None`` leaves the model's default. ``max_tokens`` is already capped
    by ``LLM_MAX_OUTPUT_TOKENS``.

    ``tool_choice`` is ``"auto"``, ``"none"``, ``"required"`` or
    ``{"type": "function", "function": {"name": ...}}``; ``response_format`` is
    ``{"type": "text" | "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: Mapping[str, Any] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None


@dataclass(frozen=True)
class Prompt:
    """Everything a model is given for one completion.

    ``passages`` stay structured so that the offline assistant can quote them; the vendor
    adapters send them as quoted data in a turn of their own (see ``providers.rendering``).
    """

    messages: Sequence[Message]
    system: str = ""
    passages: Sequence[Passage] = ()
    tools: Sequence[ToolSpec] = ()
    options: Options = Options()


@dataclass(frozen=True)
class Usage:
    """LLM token counts, as the model reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Completion:
    """A model's answer: text and/or tool calls, with usage and why it stopped."""

    text: str
    provider: str
    model: str
    usage: Usage = Usage()
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    # The server reported no usage, so Tally counted it (see `Provider.count_usage`).
    usage_counted: bool = False


@dataclass(frozen=True)
class TextDelta:
    """A piece of streamed text. A stream yields these, then exactly one ``Completion``."""

    text: str


StreamEvent = TextDelta | Completion
