"""The base class every provider adapter implements, and the settings it is built from."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from providers.types import Completion, Prompt, StreamEvent


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

    def check(self) -> list[str]:
        """Problems with this provider's configuration, as messages (empty when ready)."""
        return []
