"""The offline assistant's own tokenizer, so its usage reports real, deterministic counts."""

from __future__ import annotations

import functools
import re

# Letters, numbers in groups of up to three digits (as BPE vocabularies tend to split them),
# and every other visible character on its own.
_PIECE = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]|_")


@functools.lru_cache(maxsize=4096)  # history and passages are counted chat after chat
def count_tokens(text: str) -> int:
    """How many word, number and punctuation pieces ``text`` has."""
    return len(_PIECE.findall(text))


def split_for_streaming(text: str) -> list[str]:
    """``text`` in word-sized pieces, each word with its following spaces; they join exactly."""
    return re.findall(r"\S+\s*|\s+", text)
