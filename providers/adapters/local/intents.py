"""Order intents in plain words ("two margheritas and a coke") turned into order tool calls."""

from __future__ import annotations

import re
from collections.abc import Sequence

from providers.text import STOPWORDS, normalise
from providers.types import ToolSpec

from .catalog import Catalog, Mention, catalog_from_tools
from .descriptors import descriptor_mentions
from .items import SEPARATORS, PlannedCall, item_calls
from .references import follow_up_calls
from .state import TOKEN, DialogueState

ORDER_TOOLS = frozenset(
    {
        "search_catalog",
        "add_to_order",
        "remove_from_order",
        "view_order",
        "confirm_order",
        "cancel_order",
    }
)


_CLAUSE_BREAKS = SEPARATORS | {"and", "then", "but", "also", "plus"}
_LEAD_FILLERS = (
    frozenset(
        "hi hello hey ok okay so um uh well oh also and please yes yeah great thanks cool actually "
        "right hmm alright".split()
    )
    | SEPARATORS
)
_QUESTION_STARTS = frozenset(
    "what what's whats which how how's is are does do any anything got who where when why tell "
    "can could".split()
)
_POLITE_ASKS = frozenset({"can", "could", "may", "would", "will"})
_ORDER_VERBS = frozenset(
    "add remove delete drop take cancel order get have bring grab put swap replace change make "
    "please also just".split()
)
_ORDER_PHRASES = re.compile(
    r"\b(add|remove|delete|i'd like|i would like|i want|we want|i'll have|i'll take|i'll get|"
    r"we'll have|we'll take|give me|get me|bring me|don't want|dont want|take off|take out|swap|"
    r"replace|let me (get|have))\b"
)
_SEARCH_WORDS = frozenset(
    "menu sell serve offer recommend suggest anything something options option vegetarian vegan "
    "spicy gluten drinks desserts sides starters mains specials kinds types cheapest popular "
    "available choices".split()
)
_SEARCH_PHRASES = re.compile(r"\b(do you have|have you got|you got|is there|are there)\b")
_SEARCH_FILLERS = frozenset(
    "have got sell serve offer something anything options option choices recommend suggest kind "
    "kinds type types much cost costs price prices available list see show tell about there "
    "any your you do does is are which what's whats shop order".split()
)
_CONFIRM = re.compile(
    r"\bconfirm\b|\bplace (the |my |this )?order\b|\bplace it\b|\bcheck ?out\b|\bgo ahead\b|"
    r"\bfinali[sz]e\b|\bsubmit\b|\bsend (it|the order)\b"
)
_CANCEL = re.compile(
    r"\bcancel\b|\bstart over\b|\b(clear|empty|scrap|forget|abandon) (my|the) (order|cart|basket)\b"
)
_VIEW = re.compile(
    r"\bwhat('s| is)? in (my|the) (order|cart|basket)\b|\b(show|view|see|check|review|repeat|"
    r"read)\b.*\b(order|cart|basket)\b|\bmy (current )?(order|cart|basket|total)\b|"
    r"\bthe (cart|basket|total)\b|\bwhat (did|have) i (order|ordered|got)\b|"
    r"\border (status|summary)\b|\bso far\b|\bhow much do i owe\b"
)
_AFFIRMATIONS = (
    frozenset(
        "yes yeah yep yup sure ok okay please do it go correct right perfect sounds good great "
        "that's fine absolutely".split()
    )
    | SEPARATORS
)


def plan_order_calls(
    text: str,
    tools: Sequence[ToolSpec],
    *,
    previous_reply: str = "",
    state: DialogueState | None = None,
) -> list[PlannedCall]:
    """The order tool calls a sensible model would make for ``text`` (empty when none apply).

    Only tools present in ``tools`` are ever called; products come from their ``x-catalog``.
    A question that does not ask to change the order ("is the diavola spicy?") browses the
    catalog; anything else becomes add/remove calls per product named plus view, confirm and
    cancel calls for the clauses that name no product, in the order they were said. With the
    dialogue ``state``, follow-ups ("make it two", "a pepperoni instead") act on the draft.
    """
    available = {tool.name for tool in tools} & ORDER_TOOLS
    if not available:
        return []
    catalog = catalog_from_tools(tools)
    tokens = TOKEN.findall(normalise(_prepare(text)))
    if not tokens:
        return []
    stems = catalog.canonical(tokens)
    mentions = catalog.mentions(stems) if catalog else []
    ordering = _is_order_phrasing(tokens) or not (_is_question(tokens) or _is_about_oneself(tokens))
    if ordering:  # "one vegetarian": described, not named; a question only browses
        described = descriptor_mentions(tokens, stems, mentions, catalog)
        mentions = sorted([*mentions, *described], key=lambda mention: mention.start)
    items = item_calls(tokens, mentions)
    events = _order_events(tokens, mentions)
    if state is not None and ordering and not events:
        follow_up = follow_up_calls(tokens, mentions, items, state)
        if follow_up is not None:
            return _only_available(follow_up, available)
    searching = _has_search_cue(tokens, stems, mentions, catalog)
    search = [PlannedCall("search_catalog", {"query": _search_query(tokens)})]

    if not _is_order_phrasing(tokens):
        if events and not mentions:
            return _only_available([call for _, call in events], available)
        explicit = any(item.explicit for item in items)
        if _is_question(tokens) or (searching and not explicit):
            return _only_available(search, available) if mentions or searching else []
        if _is_about_oneself(tokens) and not explicit:
            return []  # "I'm vegetarian" describes the speaker; it orders nothing

    planned = sorted([(item.position, item.call) for item in items] + events, key=_first)
    calls = _only_available([call for _, call in planned], available)
    if calls:
        return calls
    if searching and not mentions:
        return _only_available(search, available)
    if not mentions and _is_affirmation(tokens) and "confirm" in previous_reply.lower():
        return _only_available([PlannedCall("confirm_order", {})], available)
    return []


def _first(pair: tuple[int, PlannedCall]) -> int:
    return pair[0]


def _prepare(text: str) -> str:
    text = normalise(text).replace("\u00d7", " x ").replace("&", " and ").replace("+", " and ")
    text = re.sub(r"\b(\d+)\s*x\b", r"\1 x", text)  # "3x pepperoni"
    return re.sub(r"\bx\s*(\d+)\b", r"x \1", text)  # "pepperoni x3"


def _only_available(calls: list[PlannedCall], available: set[str]) -> list[PlannedCall]:
    return [call for call in calls if call.name in available]


def _order_events(
    tokens: Sequence[str], mentions: Sequence[Mention]
) -> list[tuple[int, PlannedCall]]:
    """Confirm, cancel and view requests, each recognised in a clause naming no product."""
    inside = {index for mention in mentions for index in range(mention.start, mention.end)}
    events: list[tuple[int, PlannedCall]] = []
    seen: set[str] = set()
    clause_start = 0
    for index in range(len(tokens) + 1):
        if index < len(tokens) and tokens[index] not in _CLAUSE_BREAKS:
            continue
        clause = range(clause_start, index)
        if clause and not inside.intersection(clause):
            text = " ".join(tokens[clause_start:index])
            for name, pattern in (
                ("cancel_order", _CANCEL),
                ("confirm_order", _CONFIRM),
                ("view_order", _VIEW),
            ):
                if pattern.search(text):
                    if name not in seen:
                        events.append((clause_start, PlannedCall(name, {})))
                        seen.add(name)
                    break
        clause_start = index + 1
    return events


def _lead(tokens: Sequence[str]) -> int:
    index = 0
    while index < len(tokens) and tokens[index] in _LEAD_FILLERS:
        index += 1
    return index


def _is_question(tokens: Sequence[str]) -> bool:
    lead = _lead(tokens)
    return "?" in tokens or (lead < len(tokens) and tokens[lead] in _QUESTION_STARTS)


def _is_order_phrasing(tokens: Sequence[str]) -> bool:
    """Whether the words ask to change the order, even when phrased as a question."""
    if _ORDER_PHRASES.search(" ".join(tokens)):
        return True
    lead = _lead(tokens)
    ask = tokens[lead : lead + 3]
    return (
        len(ask) == 3
        and ask[0] in _POLITE_ASKS
        and ask[1] in ("i", "we", "you")
        and ask[2] in _ORDER_VERBS
    )


def _has_search_cue(
    tokens: Sequence[str], stems: Sequence[str], mentions: Sequence[Mention], catalog: Catalog
) -> bool:
    """Whether the words browse the catalog ("something spicy", "pizzas?", "the menu")."""
    if _SEARCH_PHRASES.search(" ".join(tokens)):
        return True
    inside = {index for mention in mentions for index in range(mention.start, mention.end)}
    return any(
        index not in inside and (token in _SEARCH_WORDS or stems[index] in catalog.generic)
        for index, token in enumerate(tokens)
    )


def _search_query(tokens: Sequence[str]) -> str:
    """The words of a catalog question that carry its meaning ("something spicy" -> "spicy")."""
    kept = [
        token
        for token in tokens
        if token not in SEPARATORS
        and token not in STOPWORDS
        and token not in _SEARCH_FILLERS
        and not token.isdigit()
    ]
    # Asking for the menu or a recommendation names nothing in particular: list the menu.
    return " ".join(kept) or "menu"


def _is_about_oneself(tokens: Sequence[str]) -> bool:
    lead = _lead(tokens)
    return tokens[lead : lead + 1] in (["i'm"], ["im"], ["we're"]) or tokens[lead : lead + 2] in (
        ["i", "am"],
        ["we", "are"],
    )


def _is_affirmation(tokens: Sequence[str]) -> bool:
    return bool(tokens) and all(token in _AFFIRMATIONS for token in tokens)
