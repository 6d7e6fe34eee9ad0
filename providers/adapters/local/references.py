"""Follow-ups that refer to the order rather than name a product: "make it two", "another one",
"remove it", "a pepperoni instead", "make that three margheritas".

What "it" is and how many there are come from the `DialogueState`: the server's draft and the
item the customer last named; the order tools check every call these plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from providers.text import STOPWORDS

from .catalog import Mention
from .items import CUES, SEPARATORS, ItemCall, PlannedCall
from .numbers import quantity_starting_at
from .state import DialogueState

_PRONOUNS = frozenset("it that this them those one ones".split())
_SET = frozenset({"make"})
_MORE = frozenset({"another", "more", "again", "extra"})
_LESS = frozenset({"less", "fewer"})
_REMOVE_WORDS = frozenset({"never", "mind", "nevermind"})
# Words a bare follow-up may hold besides cues, counts and pronouns ("oh wait, make it two").
_CHATTER = frozenset(
    "ok okay oh wait sorry actually hmm um so well yes yeah please thanks just then same "
    "instead of i'll i'd we'll let lets me us can could would will you make do the enough "
    "think better rather second thought mind".split()
)
_PARTICLES = frozenset({"off", "out"})  # "take that OFF"


def follow_up_calls(
    tokens: Sequence[str],
    mentions: Sequence[Mention],
    items: Sequence[ItemCall],
    state: DialogueState,
) -> list[PlannedCall] | None:
    """The calls for a follow-up about the order, or None when ``tokens`` are not one."""
    if not mentions:
        return _about_focus(tokens, state)
    if "instead" in tokens and _replaces_focus(tokens, items, state):
        return _replacement(items, state)
    if _swaps_focus(tokens, mentions) and state.focus in state.draft:
        # "replace it with a quattro formaggi": the products named are what comes in.
        adds = [_as_addition(item) for item in items]
        if all(item.call.arguments["product"] != state.focus for item in adds):
            return _replacement(adds, state)
    return _make_it(tokens, mentions, items, state)


def _about_focus(tokens: Sequence[str], state: DialogueState) -> list[PlannedCall] | None:
    """ "make it two", "another one", "two more", "I'll take one", "remove it", "one less"."""
    said = [token for token in tokens if token not in SEPARATORS]
    if not said or not all(_bare(token) for token in said):
        return None
    count = _count(said)
    refers = bool((_PRONOUNS | _MORE) & set(said)) or count is not None
    removing = (
        _REMOVE_WORDS & set(said)
        or _PARTICLES & set(said)
        or any(CUES.get((t,)) == "remove" for t in said)
    )
    if not refers or state.focus is None:
        return None
    focus, fewer = state.focus, bool(_LESS & set(said))
    if removing or fewer:
        if focus not in state.draft:
            return None
        quantity = count if count is not None else (1 if fewer else None)
        return [PlannedCall("remove_from_order", _arguments(focus, quantity))]
    if _sets(said) and count is not None:
        return _set_quantity(focus, count, state)
    adds = any(CUES.get((t,)) == "add" for t in said)
    if _MORE & set(said) or (adds and count is not None):
        return [PlannedCall("add_to_order", {"product": focus, "quantity": count or 1})]
    return None


def _bare(token: str) -> bool:
    return (
        token in STOPWORDS
        or token in _CHATTER
        or token in _PRONOUNS
        or token in _MORE
        or token in _LESS
        or token in _REMOVE_WORDS
        or (token,) in CUES
        or quantity_starting_at([token], 0, 1) is not None
    )


def _count(said: Sequence[str]) -> int | None:
    """The number said, "another two" counting two; a bare "another" or "one more" is one."""
    counts = []
    for index in range(len(said)):
        found = quantity_starting_at(said, index, len(said))
        if found is not None and said[index] not in ("a", "an"):
            counts.append((said[index] != "another", found[0]))
    if not counts:
        return None
    return max(counts)[1]  # a real number beats "another"


def _sets(said: Sequence[str]) -> bool:
    """ "make it two", "make that three": a new quantity, not more of it."""
    return any(
        said[index] in _SET and said[index + 1] in _PRONOUNS for index in range(len(said) - 1)
    )


def _set_quantity(sku: str, wanted: int, state: DialogueState) -> list[PlannedCall]:
    have = state.quantity(sku)
    if wanted > have:
        return [PlannedCall("add_to_order", {"product": sku, "quantity": wanted - have})]
    if wanted < have:
        return [PlannedCall("remove_from_order", {"product": sku, "quantity": have - wanted})]
    return [PlannedCall("view_order", {})]


def _arguments(sku: str, quantity: int | None) -> dict[str, object]:
    return {"product": sku} if quantity is None else {"product": sku, "quantity": quantity}


def _replaces_focus(tokens: Sequence[str], items: Sequence[ItemCall], state: DialogueState) -> bool:
    """ "a pepperoni instead": only additions, none of them the item in focus, which is in the
    draft ("instead OF the coke" names what goes, and is already a removal)."""
    focus = state.focus
    return (
        focus is not None
        and focus in state.draft
        and bool(items)
        and all(item.call.name == "add_to_order" for item in items)
        and all(item.call.arguments["product"] != focus for item in items)
    )


def _swaps_focus(tokens: Sequence[str], mentions: Sequence[Mention]) -> bool:
    """ "swap it for", "replace that with", "change it to": a swap of the item in focus."""
    first = mentions[0].start
    return any(
        CUES.get((tokens[index],)) == "swap" and tokens[index + 1] in _PRONOUNS
        for index in range(first - 1)
    )


def _as_addition(item: ItemCall) -> ItemCall:
    arguments = {"product": item.call.arguments["product"]}
    arguments["quantity"] = item.call.arguments.get("quantity", 1)
    return ItemCall(item.position, PlannedCall("add_to_order", arguments), item.explicit)


def _replacement(items: Sequence[ItemCall], state: DialogueState) -> list[PlannedCall]:
    focus = state.focus
    assert focus is not None  # noqa: S101 - checked by _replaces_focus
    calls = [PlannedCall("remove_from_order", {"product": focus})]
    for item in items:
        arguments = dict(item.call.arguments)
        if not item.explicit:  # "sprites instead" of two cokes: two sprites
            arguments["quantity"] = state.quantity(focus)
        calls.append(PlannedCall("add_to_order", arguments))
    return calls


def _make_it(
    tokens: Sequence[str],
    mentions: Sequence[Mention],
    items: Sequence[ItemCall],
    state: DialogueState,
) -> list[PlannedCall] | None:
    """ "make it three margheritas": that many in all; "make that a coke": one instead."""
    if len(mentions) != 1 or len(items) != 1 or items[0].call.name != "add_to_order":
        return None
    said = [token for token in tokens[: mentions[0].start] if token not in SEPARATORS]
    if not _sets(said):
        return None
    item, sku = items[0], mentions[0].sku
    wanted = item.call.arguments.get("quantity", 1)
    if sku in state.draft:
        return _set_quantity(sku, wanted, state) if item.explicit else None
    if _replaces_focus(tokens, items, state):
        return _replacement(items, state)
    return None
