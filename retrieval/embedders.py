"""The embedders, a registry keyed by the `EMBEDDER` setting.

`wordllama` (the default) and `hashing` are offline and deterministic: the first understands
paraphrases (`providers.semantic`), the second only shared words. `openai` and `gemini` go
through the providers app. Every embedder returns L2-normalised float32 rows, so inner
product is cosine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from django.conf import settings

from providers import registry, semantic
from providers.text import hashing_embed
from retrieval.exceptions import EmbedderNotConfigured

# Vendors cap how many inputs one embedding request may carry; stay well under every cap.
_VENDOR_BATCH = 96


class Embedder(Protocol):
    """Turns texts into vectors. ``name`` identifies the vector space (embedder and model)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int | None:
        """The vectors' width when known before embedding anything (vendors: None)."""
        ...

    @property
    def min_score(self) -> float:
        """The similarity under which a chunk does not answer (`RETRIEVAL_MIN_SCORE`'s default)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 rows, one per text."""
        ...


class HashingEmbedder:
    """Signed feature hashing of words and word pairs: good lexical recall, no network."""

    def __init__(self, dim: int) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        return "hashing"

    # Texts that share no word score ~0; one shared content word among a dozen, ~0.1.
    min_score = 0.05

    @property
    def dim(self) -> int | None:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return hashing_embed(texts, dim=self._dim)


class WordLlamaEmbedder:
    """WordLlama's bundled weights (`providers.semantic`): meaning, offline, on the CPU."""

    @property
    def name(self) -> str:
        return f"wordllama:{semantic.CONFIG}"

    # Chosen on bench/retrieval_eval.py: see bench/README.md, "Retrieval quality".
    min_score = 0.15

    @property
    def dim(self) -> int | None:
        return semantic.DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return semantic.embed(texts)


class ProviderEmbedder:
    """A vendor's embedding model, called through ``providers.registry``."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model

    @property
    def dim(self) -> int | None:
        return None

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    # A starting point: OpenAI's and Gemini's models put unrelated texts under ~0.2.
    min_score = 0.25

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        adapter = registry.get(self.provider)
        batches = [
            np.asarray(adapter.embed(texts[begin : begin + _VENDOR_BATCH]), dtype=np.float32)
            for begin in range(0, len(texts), _VENDOR_BATCH)
        ]
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        return normalise(np.vstack(batches))


EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "wordllama": WordLlamaEmbedder,
    "hashing": lambda: HashingEmbedder(settings.EMBEDDING_DIM),
    "openai": lambda: ProviderEmbedder("openai", settings.OPENAI_EMBEDDING_MODEL),
    "gemini": lambda: ProviderEmbedder("gemini", settings.GEMINI_EMBEDDING_MODEL),
}


def current() -> Embedder:
    """The embedder `EMBEDDER` names (cheap to build: vendor clients live in the registry)."""
    factory = EMBEDDERS.get(settings.EMBEDDER)
    if factory is None:
        raise EmbedderNotConfigured(
            f"Unknown EMBEDDER {settings.EMBEDDER!r}; known: {', '.join(EMBEDDERS)}."
        )
    return factory()


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32."""
    matrix = np.array(vectors, dtype=np.float32, order="C")  # a copy: never scale in place
    if matrix.ndim != 2:
        raise ValueError(f"Expected a 2-D array of vectors, got shape {matrix.shape}.")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix
