"""The base class every provider adapter implements, and the settings it is built from."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from providers.rendering import render
from providers.types import Completion, Options, Prompt, StreamEvent, ToolSpec, Usage


@dataclass(frozen=True)
class ProviderConfig:
    """What one provider needs, read from settings by the registry."""

    name: str
    default_model: str
    models: tuple[str, ...]
    api_key: str = ""
    base_url: str = ""
    embedding_model: str = ""
    timeout_s: float = 30.0
    max_output_tokens: int = 1024


class Provider(ABC):
    """Turns a prompt into a completion, a stream of deltas, or embeddings.

    Adapters are built once per process by the registry and reused: they hold their SDK client.
    Every method raises ``providers.exceptions.ProviderError`` subclasses, never SDK errors.
    """

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    def complete(self, prompt: Prompt, *, model: str | None = None) -> Completion:
        """Answer the prompt in one piece."""

    @abstractmethod
    def stream(self, prompt: Prompt, *, model: str | None = None) -> Iterator[StreamEvent]:
        """Yield ``TextDelta`` pieces as they arrive, then exactly one ``Completion``.

        The final completion carries the whole text, any tool calls and the usage.
        """

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as a float32 array of shape (len(texts), dimension)."""

    def count_tokens(self, text: str) -> int:
        """About how many tokens ``text`` is for this provider's models, offline.

        Vendors' tokenizers are not used (they download their vocabularies), so this default
        is the common approximation of one token per four bytes of UTF-8, rounded up: close
        for English prose, pessimistic for code and most other scripts. Adapters with a
        tokenizer of their own override it.
        """
        return math.ceil(len(text.encode("utf-8")) / 4)

    def count_usage(self, prompt: Prompt, completion: Completion) -> Usage:
        """The usage of a completion whose server reported none, counted with `count_tokens`
        over what the model was sent (as the vendor adapters render it) and what it wrote."""
        rendered = render(prompt)
        sent = [rendered.system, *(m.content for m in rendered.messages)]
        sent += [repr(tool.parameters) + tool.name + tool.description for tool in prompt.tools]
        sent += [repr(call.arguments) for m in rendered.messages for call in m.tool_calls]
        calls = completion.tool_calls
        written = [completion.text, *(call.name + repr(call.arguments) for call in calls)]
        return Usage(
            prompt_tokens=sum(self.count_tokens(text) for text in sent if text),
            completion_tokens=sum(self.count_tokens(text) for text in written if text),
        )

    def unsupported(self, options: Options, tools: Sequence[ToolSpec]) -> str | None:
        """The first of ``options`` (by its OpenAI parameter name) this provider cannot honour,
        or ``None``. Vendors take them all; the offline assistant overrides this."""
        return None

    def check(self) -> list[str]:
        """Problems with this provider's configuration, as messages (empty when ready)."""
        return []
