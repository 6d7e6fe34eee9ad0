"""Product mentions turned into add and remove calls, with their quantities and notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from providers.text import STOPWORDS

from .catalog import Mention
from .numbers import quantity_ending_at, quantity_starting_at


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the assistant decided to make, before it gets an id."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ItemCall:
    """An add or remove call for one product mention, and whether a quantity was said."""

    position: int
    call: PlannedCall
    explicit: bool


SEPARATORS = frozenset(",.;:!?")
# Words that may sit between a count and what it counts ("two LARGE pepperoni", "2 CANS OF coke").
_BETWEEN = frozenset(
    "the of my large small medium big regular x more additional extra can cans bottle bottles "
    "glass glasses slice slices piece pieces portion portions serving servings plate plates "
    "pint pints cup cups order orders fresh cold hot whole family size all those these less "
    "fewer".split()
)


def _phrases(kind: str, phrases: str) -> dict[tuple[str, ...], str]:
    return {tuple(phrase.split()): kind for phrase in phrases.split("|")}


# Words that switch between adding and removing for the products named after them.
CUES: dict[tuple[str, ...], str] = {
    **_phrases(
        "add",
        "add|plus|also|get|take|want|like|have|need|give|bring|put|grab|another|more|make it|"
        "make that",
    ),
    **_phrases(
        "remove",
        "remove|delete|drop|cancel|minus|forget|scrap|scratch|take off|take out|take away|"
        "get rid of|don't want|dont want|do not want|don't need|no longer want|never mind|"
        "nevermind",
    ),
    **_phrases("swap", "swap|replace|change|switch|exchange"),
    **_phrases("instead_of", "instead of"),
}
_LONGEST_CUE = max(len(cue) for cue in CUES)
_SWAP_TO = frozenset({"for", "with", "to", "into", "by"})
_NOTE_STARTS = frozenset(
    "with without no extra hold light easy double less more well not cut sliced gluten".split()
)
_NOTE_ENDS = SEPARATORS | {"and", "but", "then", "plus", "also", "please", "thanks"}
_NEGATIONS = frozenset({"no", "without"})


def _cue_events(tokens: Sequence[str], mentions: Sequence[Mention]) -> dict[int, str]:
    """Where the words switch between adding and removing, skipping the product names."""
    inside = {index for mention in mentions for index in range(mention.start, mention.end)}
    events: dict[int, str] = {}
    index = 0
    while index < len(tokens):
        if index in inside:
            index += 1
            continue
        for length in range(_LONGEST_CUE, 0, -1):
            kind = CUES.get(tuple(tokens[index : index + length]))
            if kind is not None:
                events[index] = kind
                index += length
                break
        else:
            index += 1
    return events


def item_calls(tokens: Sequence[str], mentions: Sequence[Mention]) -> list[ItemCall]:
    """One add or remove call per product mention, in the order they were said."""
    cues = _cue_events(tokens, mentions)
    starts = {mention.start for mention in mentions}
    mode, swap_pending, previous_removed = "add", False, False
    cursor = 0
    items: list[ItemCall] = []
    for mention in mentions:
        instead_of = False
        for index in range(cursor, mention.start):
            kind = cues.get(index)
            if kind == "add":
                mode, swap_pending = "add", False
            elif kind == "remove":
                mode = "remove"
            elif kind == "swap":
                mode, swap_pending = "remove", True
            elif kind == "instead_of":
                instead_of = True
            elif tokens[index] in _SWAP_TO and swap_pending and previous_removed:
                # "swap the coke FOR a sprite": what follows is the replacement.
                mode, swap_pending = "add", False
        gap = set(tokens[cursor : mention.start])
        inherited = previous_removed and bool(gap) and gap <= {"or", "nor", ","}
        quantity, negated = _quantity_before(tokens, mention.start, cursor)
        tail = mention.end
        if tail + 1 < len(tokens) and tokens[tail] in ("x", "times"):
            trailing = quantity_starting_at(tokens, tail + 1, len(tokens))
            if trailing is not None:
                quantity = quantity if quantity is not None else trailing[0]
                tail = trailing[1]
        # "take the coke OFF": the particle comes after the product.
        taken_off = tail < len(tokens) and tokens[tail] in ("off", "out")
        removing = mode == "remove" or instead_of or negated or inherited or taken_off
        if quantity == 0:
            continue  # "0 cokes" asks for nothing; the tools require at least one
        arguments: dict[str, Any] = {"product": mention.sku}
        if removing:
            if quantity is not None:
                arguments["quantity"] = quantity
        else:
            arguments["quantity"] = quantity if quantity is not None else 1
            note, tail = _note_after(tokens, tail, starts)
            if note:
                arguments["note"] = note
        name = "remove_from_order" if removing else "add_to_order"
        items.append(ItemCall(mention.start, PlannedCall(name, arguments), quantity is not None))
        previous_removed = removing
        cursor = tail
    return items


def _quantity_before(tokens: Sequence[str], start: int, floor: int) -> tuple[int | None, bool]:
    """The count said just before a product, and whether it was negated ("no more cokes").

    "One less coke" counts as negated too: it asks for one fewer.
    """
    position, fewer = start, False
    while position > floor and tokens[position - 1] in _BETWEEN:
        fewer = fewer or tokens[position - 1] in ("less", "fewer")
        position -= 1
    found = quantity_ending_at(tokens, position, floor)
    if found is None:
        found = _quantity_before_qualifiers(tokens, position, floor)
    quantity, before = (found[0], found[1]) if found else (None, position)
    while before > floor and tokens[before - 1] in _BETWEEN:
        before -= 1
    negated = before > floor and tokens[before - 1] in _NEGATIONS
    return quantity, fewer or negated


def _quantity_before_qualifiers(
    tokens: Sequence[str], position: int, floor: int
) -> tuple[int, int] | None:
    """A count before a word or two that qualify the product ("two CHOCOLATE ice creams")."""
    for skipped in (1, 2):
        start = position - skipped
        if start <= floor or not all(_qualifies(token) for token in tokens[start:position]):
            return None
        found = quantity_ending_at(tokens, start, floor)
        if found is not None:
            return found
    return None


def _qualifies(token: str) -> bool:
    return token.isalpha() and token not in STOPWORDS and (token,) not in CUES


def _note_after(tokens: Sequence[str], position: int, starts: set[int]) -> tuple[str, int]:
    """Instructions after a product ("with extra cheese, no olives") and where they end."""
    phrases: list[str] = []
    end = position
    while True:
        begin = end
        while begin < len(tokens) and tokens[begin] in (",", "and", "but"):
            begin += 1
        if begin >= len(tokens) or tokens[begin] not in _NOTE_STARTS:
            break
        stop = begin + 1
        while stop < len(tokens) and stop not in starts and not _ends_note(tokens, stop, starts):
            stop += 1
        if stop in starts:
            break  # "with a coke" names another product, not an instruction
        phrases.append(" ".join(tokens[begin:stop]))
        end = stop
    return ", ".join(phrases), end


def _ends_note(tokens: Sequence[str], index: int, starts: set[int]) -> bool:
    if tokens[index] not in _NOTE_ENDS:
        return False
    if tokens[index] != "and" or index + 1 >= len(tokens):
        return True
    # "with ham and pineapple" goes on; "... and a coke" or "... and add" starts something new.
    following = tokens[index + 1]
    return (
        index + 1 in starts
        or following in _NOTE_STARTS
        or following in SEPARATORS
        or quantity_starting_at(tokens, index + 1, len(tokens)) is not None
        or (following,) in CUES
    )
