"""Text to overlapping chunks of at most `size` characters that never cut a word in half.

A chunk ends at the last paragraph break that keeps it at least half full, else at the last
sentence end, else at the last whole word; the next one starts with the previous chunk's
trailing words (up to `overlap` characters) so that a passage cut at a boundary is still found.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]]*$")


def chunk_spans(text: str, *, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) offsets of the chunks of ``text``; ``text[start:end]`` is a chunk.

    Every chunk starts and ends on a word boundary and is at most ``size`` characters long,
    unless it is a single word longer than that. Consecutive chunks share at most ``overlap``
    characters.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"Need size >= 1 and 0 <= overlap < size, got {size=} {overlap=}.")
    words = [match.span() for match in _WORD.finditer(text)]
    starts = [start for start, _ in words]
    ends = [end for _, end in words]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(words):
        chunk_start = starts[first]
        # The last word that still fits (at least one word, even an over-long one).
        last = max(first, bisect_right(ends, chunk_start + size) - 1)
        if last < len(words) - 1:
            last = _best_break(text, words, first, last, size)
        spans.append((chunk_start, ends[last]))
        if last == len(words) - 1:
            break
        # The next chunk repeats the trailing words that fit in `overlap`, and always advances.
        following = bisect_left(starts, ends[last] - overlap)
        first = min(max(following, first + 1), last + 1)
    return spans


def split_text(text: str, *, size: int, overlap: int) -> list[str]:
    """The chunks of ``text`` (see `chunk_spans`), without surrounding whitespace."""
    return [text[start:end] for start, end in chunk_spans(text, size=size, overlap=overlap)]


def _best_break(text: str, words: list[tuple[int, int]], first: int, last: int, size: int) -> int:
    """The word to end on: a paragraph end, else a sentence end, if the chunk stays half full."""
    chunk_start = words[first][0]
    floor = chunk_start + size // 2
    sentence_end: int | None = None
    for index in range(last, first - 1, -1):
        end = words[index][1]
        if end < floor:
            break
        gap = text[end : words[index + 1][0]]
        if gap.count("\n") >= 2:
            return index
        if sentence_end is None and _SENTENCE_END.search(text[words[index][0] : end]):
            sentence_end = index
    return sentence_end if sentence_end is not None else last
