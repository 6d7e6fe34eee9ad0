"""The offline semantic embedding: WordLlama's ``l2_supercat`` weights (256 dimensions), shipped
inside the ``wordllama`` wheel, so texts that mean the same without sharing words ("can I bring
my puppy?", "dogs are welcome") land near each other with no model download and no network.

WordLlama averages token embeddings taken from a large language model's input layer, weighted
and projected; a short text costs ~0.1 ms on one core, a 1,000-character chunk ~0.35 ms.
Retrieval's default embedder and the offline assistant's product matching both use it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIMENSION = 256
CONFIG = "l2_supercat"
# Texts embedded per call into the model: measured fastest on 1,000-character chunks.
_BATCH = 256
_loading = threading.Lock()
_loaded: Any = None


def _model() -> Any:  # wordllama.WordLlama; the package ships no type information
    global _loaded
    if _loaded is None:
        # Loading reads ~17 MB of weights: threads asking at once wait for the first one.
        with _loading:
            if _loaded is None:
                import wordllama  # noqa: PLC0415 - imported only by processes that embed
                from wordllama import WordLlama  # noqa: PLC0415

                # The weights and the tokenizer's configuration are files of the installed
                # package: pointing the cache there and refusing downloads keeps WordLlama off
                # the network.
                _loaded = WordLlama.load(
                    config=CONFIG,
                    dim=DIMENSION,
                    cache_dir=Path(wordllama.__file__).parent,
                    disable_download=True,
                )
    return _loaded


def load() -> None:
    """Load the model now rather than on the first embedding (for the warm-up)."""
    _model()


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised float32 rows of width `DIMENSION`, one per text (a text with no words:
    zeros)."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    matrix = np.asarray(
        _model().embed(list(texts), norm=False, batch_size=_BATCH), dtype=np.float32
    ).reshape(len(texts), DIMENSION)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return np.nan_to_num(matrix, copy=False)
