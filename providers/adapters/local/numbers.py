"""Quantities as people say them: digits, number words and phrases like "a couple of"."""

from __future__ import annotations

from collections.abc import Sequence

_UNITS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    word: 10 * (index + 2)
    for index, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
}
# Phrases whose meaning is a count; "of" after them is skipped by the caller ("a couple of").
_PHRASES: dict[tuple[str, ...], int] = {
    ("a",): 1,
    ("an",): 1,
    ("another",): 1,
    ("single",): 1,
    ("a", "single"): 1,
    ("both",): 2,
    ("couple",): 2,
    ("a", "couple"): 2,
    ("pair",): 2,
    ("a", "pair"): 2,
    ("dozen",): 12,
    ("a", "dozen"): 12,
    ("half", "a", "dozen"): 6,
}
# Larger numbers are almost certainly a misreading (a table or phone number), not an order size.
MAX_QUANTITY = 999
LONGEST_PHRASE = 3


def parse_quantity(words: Sequence[str]) -> int | None:
    """The count a short run of words says ("3", "twenty one", "a dozen"), or None."""
    key = tuple(words)
    if key in _PHRASES:
        return _PHRASES[key]
    if len(key) == 1:
        word = key[0]
        if word.isdigit():
            value = int(word)
            return value if value <= MAX_QUANTITY else None
        if word in _UNITS:
            return _UNITS[word]
        if word in _TENS:
            return _TENS[word]
        return None
    if len(key) == 2 and key[0] in _TENS and key[1] in _UNITS and 0 < _UNITS[key[1]] < 10:
        return _TENS[key[0]] + _UNITS[key[1]]
    return None


def quantity_ending_at(words: Sequence[str], end: int, start: int = 0) -> tuple[int, int] | None:
    """The longest quantity phrase in ``words[start:end]`` that ends exactly at ``end``.

    Returns ``(value, index where the phrase starts)`` or None.
    """
    for length in range(LONGEST_PHRASE, 0, -1):
        begin = end - length
        if begin < start:
            continue
        value = parse_quantity(words[begin:end])
        if value is not None:
            return value, begin
    return None


def quantity_starting_at(words: Sequence[str], begin: int, end: int) -> tuple[int, int] | None:
    """The longest quantity phrase in ``words[begin:end]`` that starts at ``begin``.

    Returns ``(value, index just after the phrase)`` or None.
    """
    for length in range(LONGEST_PHRASE, 0, -1):
        stop = begin + length
        if stop > end:
            continue
        value = parse_quantity(words[begin:stop])
        if value is not None:
            return value, stop
    return None
