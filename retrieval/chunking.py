"""Text to overlapping chunks of at most `size` characters that never cut a word in half.

A chunk ends at the last paragraph break that keeps it at least half full, else at the last
sentence end, else at the last whole word; the next one starts with the previous chunk's
trailing words (up to `overlap` characters) so that a passage cut at a boundary is still found.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

_WORD = re.compile(r"\S+")
# A word that ends a sentence, and a blank line: found in one pass over the text each.
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]]*(?!\S)")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")


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
    # The words after which a chunk may end well, by index: blank lines, sentence ends.
    paragraphs = sorted(
        {bisect_right(ends, m.start()) - 1 for m in _PARAGRAPH_BREAK.finditer(text)}
    )
    sentences = [bisect_left(ends, m.end()) for m in _SENTENCE_END.finditer(text)]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(words):
        chunk_start = starts[first]
        # The last word that still fits (at least one word, even an over-long one).
        last = max(first, bisect_right(ends, chunk_start + size) - 1)
        if last < len(words) - 1:
            floor = chunk_start + size // 2
            for breaks in (paragraphs, sentences):  # a paragraph's end first
                found = _best_break(breaks, ends, first, last, floor)
                if found is not None:
                    last = found
                    break
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


def _best_break(
    breaks: list[int], ends: list[int], first: int, last: int, floor: int
) -> int | None:
    """The last of ``breaks`` (word indices, sorted) between words ``first`` and ``last`` that
    ends at ``floor`` or later, so the chunk stays half full; None if there is none."""
    found = bisect_right(breaks, last) - 1
    if found >= 0 and breaks[found] >= first and ends[breaks[found]] >= floor:
        return breaks[found]
    return None
