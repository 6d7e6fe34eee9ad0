"""Text helpers shared by the apps and the offline assistant: words, stopwords and stem folding,
the offline token counter, and the hashing embedding (signed feature hashing of word unigrams
and bigrams, deterministic and offline)."""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Sequence

import numpy as np

# Apostrophes stay inside words ("what's", "i'd") so contractions remain one recognisable token.
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
    not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've were weren't what what's whats when when's
    where where's which while who who's whom why why's will with won't would wouldn't you you'd
    you'll you're you've your yours yourself yourselves dont im ive id ill thats whats its lets
    please hi hello hey thanks thank ok okay yes also just get got tell know want like would
    """.split()
)


def normalise(text: str) -> str:
    """Lower-case ``text`` and fold typographic apostrophes, so "What’s" reads as "what's"."""
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``; hyphens and punctuation split words."""
    return _WORD.findall(normalise(text))


def stem(word: str) -> str:
    """Fold a word so that singular and plural (and -ing/-ed forms) meet.

    The result is never shown; it only has to be the same on both sides of a comparison, so
    "cookies"/"cookie" both become "cooki" and "quiches"/"quiche" both "quich".
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "i"
    elif word.endswith(("ches", "shes", "sses", "xes", "zzes", "oes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    return word


def content_stems(text: str, extra_stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Stems of the words that carry meaning, in order and without repeats."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word in STOPWORDS or word in extra_stopwords:
            continue
        seen.setdefault(stem(word), None)
    return list(seen)


# Letters, numbers in groups of up to three digits (as BPE vocabularies tend to split them),
# and every other visible character on its own.
_PIECE = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]|_")


# The tool schemas, passages and history are counted again on every turn, the history twice
# (its budget and the usage): counting them afresh measured over 10% of a chat's CPU.
@functools.lru_cache(maxsize=4096)
def count_tokens(text: str) -> int:
    """How many word, number and punctuation pieces ``text`` has: the offline assistant's own
    tokenizer, so its usage reports real, deterministic counts."""
    return len(_PIECE.findall(text))


DIMENSION = 384
_EMBED_WORD = re.compile(r"\w+")
# Enough rows per batch to amortise numpy calls, few enough to keep the scratch arrays small.
_BATCH = 4096
_LOW32 = np.uint64(0xFFFFFFFF)


def hashing_embed(texts: Sequence[str], dim: int = DIMENSION) -> np.ndarray:
    """Embed ``texts`` as L2-normalised float32 rows of width ``dim`` (an empty text: zeros).

    Features are lower-cased, plural-folded word unigrams and bigrams (stopwords dropped unless
    a text has nothing else), weighted 1 + ln(tf), so texts sharing words, and better word
    pairs, get a higher inner product. Hashing uses CRC-32 of each word's stem (column = hash
    modulo the dimension, sign = the top bit), never Python's per-process randomised
    ``hash()``, so vectors are the same in every process and can be persisted.
    """
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for begin in range(0, len(texts), _BATCH):
        out[begin : begin + _BATCH] = _embed_batch(texts[begin : begin + _BATCH], dim)
    return out


def _embed_batch(texts: Sequence[str], dim: int) -> np.ndarray:
    hashes: list[int] = []
    lengths: list[int] = []
    # The only per-word Python work: split, drop stopwords, hash. Bigrams, counting and
    # weighting happen below in numpy, for the whole batch at once.
    for text in texts:
        found = _EMBED_WORD.findall(text.lower())
        content = [word for word in found if word not in STOPWORDS] or found
        hashes.extend([zlib.crc32(stem(word).encode("utf-8")) for word in content])
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
