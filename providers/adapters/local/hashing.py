"""A deterministic, offline embedder: signed feature hashing of word unigrams and bigrams."""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Sequence

import numpy as np

from .words import STOPWORDS, stem

DIMENSION = 384
_WORD = re.compile(r"\w+")
# Enough rows per batch to amortise numpy calls, few enough to keep the scratch arrays small.
_BATCH = 4096
# word -> CRC-32 of its stem (column = hash modulo the dimension, sign = the top bit), so that
# "pizzas" meets "pizza" at no cost per word. Cleared when it grows past the limit so that a
# long-lived process keeps bounded memory.
_CACHE_LIMIT = 200_000
_word_hashes: dict[str, int] = {}
_LOW32 = np.uint64(0xFFFFFFFF)


def hashing_embed(texts: Sequence[str], dim: int = DIMENSION) -> np.ndarray:
    """Embed ``texts`` as L2-normalised float32 rows of width ``dim`` (an empty text: zeros).

    Features are lower-cased, plural-folded word unigrams and bigrams (stopwords dropped unless
    a text has nothing else), weighted 1 + ln(tf), so texts sharing words, and better word
    pairs, get a higher inner product. Hashing uses CRC-32, never Python's per-process
    randomised ``hash()``, so vectors are the same in every process and can be persisted.
    """
    if len(texts) == 1:
        return _one(texts[0], dim).copy()  # a copy: the caller may write to it
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for begin in range(0, len(texts), _BATCH):
        out[begin : begin + _BATCH] = _embed_batch(texts[begin : begin + _BATCH], dim)
    return out


@functools.lru_cache(maxsize=64)
def _one(text: str, dim: int) -> np.ndarray:
    """One text's row, kept a while: a chat embeds its message for the documents and again for
    the catalog."""
    row = _embed_batch([text], dim)
    row.flags.writeable = False
    return row


def _embed_batch(texts: Sequence[str], dim: int) -> np.ndarray:
    if len(_word_hashes) > _CACHE_LIMIT:
        _word_hashes.clear()
    lookup = _word_hashes.get
    hashes: list[int] = []
    lengths: list[int] = []
    # The only per-word Python work: split, drop stopwords, look the hash up. Bigrams, counting
    # and weighting happen below in numpy, for the whole batch at once.
    for text in texts:
        words = _WORD.findall(text.lower())
        content = [word for word in words if word not in STOPWORDS] or words
        hashes.extend([lookup(word) or _hash(word) for word in content])
        lengths.append(len(content))
    rows = np.repeat(np.arange(len(texts), dtype=np.uint64), lengths)
    unigrams = np.asarray(hashes, dtype=np.uint64)
    same_text = rows[1:] == rows[:-1]
    bigrams = _pair_hash(unigrams[:-1][same_text], unigrams[1:][same_text])
    keys = np.concatenate(
        [(rows << np.uint64(32)) | unigrams, (rows[1:][same_text] << np.uint64(32)) | bigrams]
    )
    features, counts = np.unique(keys, return_counts=True)
    feature_hash = features & _LOW32
    columns = (features >> np.uint64(32)) * np.uint64(dim) + feature_hash % np.uint64(dim)
    signs = 1.0 - 2.0 * ((feature_hash >> np.uint64(31)) & np.uint64(1)).astype(np.float64)
    matrix = np.bincount(
        columns.astype(np.int64),
        weights=(1.0 + np.log(counts)) * signs,  # sublinear term frequency
        minlength=len(texts) * dim,
    ).reshape(len(texts), dim)
    # bincount answers int64 when no text has a single word ("¤·[").
    matrix = matrix.astype(np.float64, copy=False)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix.astype(np.float32)


def _hash(word: str) -> int:
    value = zlib.crc32(stem(word).encode("utf-8"))
    _word_hashes[word] = value
    return value


def _pair_hash(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A 32-bit hash of an ordered word pair from its words' hashes (splitmix64's finaliser).

    Unsigned overflow wraps by design; it is what mixes the bits.
    """
    mixed = first * np.uint64(0x9E3779B1) + second
    mixed ^= mixed >> np.uint64(30)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    return mixed & _LOW32
