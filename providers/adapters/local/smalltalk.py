"""Fixed replies: greetings, help, thanks, goodbyes and the honest "I don't know"."""

from __future__ import annotations

import re
from collections.abc import Sequence

from providers.text import words

_GREETING_STARTS = frozenset("hi hello hey hiya howdy yo greetings good morning evening".split())
_GREETING_WORDS = _GREETING_STARTS | frozenset(
    "there all everyone everybody afternoon day tally again folks team".split()
)
_HELP = re.compile(
    r"^(help|help me|help please|please help|i need help|what can you do|what do you do|"
    r"how does (this|it) work|who are you|what are you|how can you help( me)?|"
    r"what can i (do|ask)( you)?|how do i (order|use this|use you)|what are your (features|"
    r"capabilities)|commands|menu of commands)$"
)
_THANKS = re.compile(
    r"^(thanks|thank you|thx|ty|cheers|great thanks|thanks a lot|thank you very much|"
    r"many thanks|thanks so much|perfect thanks|ok thanks|okay thanks)$"
)
_ORDER_START = re.compile(
    r"^(i'd like|i would like|i want|i wanna|i'd love|can i|could i|may i|let me)( to)? "
    r"(place|make|start|do) (an|a new|my) order( please)?$|^(i'm|we're) ready to order$"
)
# Only unmistakable introductions: "I'm hungry" is not a name.
_INTRODUCTION = re.compile(
    r"^(?:my name is|my name's|call me) ([a-z][a-z'-]*(?: [a-z][a-z'-]*){0,2})$"
)
_BYE = re.compile(r"^(bye|goodbye|bye bye|see you|see ya|good night|later|ciao)$")


def capabilities(examples: Sequence[str], *, can_order: bool) -> str:
    """One sentence on what the assistant can do, with an order example from the catalog."""
    if not can_order:
        return "I can answer questions about the shop from its documents."
    return (
        "I can answer questions about the shop from its documents, take your order (just say "
        f"something like {_example(examples)}), and show, confirm or cancel your order."
    )


def _example(examples: Sequence[str]) -> str:
    if len(examples) >= 2:
        return f"\u201c2 {examples[0]} and a {examples[1]}\u201d"
    if examples:
        return f"\u201c2 {examples[0]}\u201d"
    return "\u201c2 of these and one of those\u201d"


def _example_sentence(examples: Sequence[str]) -> str:
    return f"Just say something like {_example(examples)}."


def smalltalk_reply(text: str, examples: Sequence[str], *, can_order: bool) -> str | None:
    """A fixed reply when ``text`` is only a greeting, a call for help, thanks or goodbye."""
    said = words(text)
    if not said:
        return help_reply(examples, can_order=can_order)
    if said[0] in _GREETING_STARTS and all(word in _GREETING_WORDS for word in said):
        return (
            "Hello! I'm Tally, the shop's assistant. "
            + capabilities(examples, can_order=can_order)
            + " What can I do for you?"
        )
    # "Hi, what can you do?" is a call for help with a greeting in front.
    while said and said[0] in _GREETING_WORDS:
        said = said[1:]
    phrase = " ".join(said)
    if _HELP.match(phrase):
        return help_reply(examples, can_order=can_order)
    introduction = _INTRODUCTION.match(phrase)
    if introduction:
        name = _name_as_written(text, introduction.group(1))
        return f"Nice to meet you, {name}! I'm Tally, the shop's assistant. " + capabilities(
            examples, can_order=can_order
        )
    if _ORDER_START.match(phrase) and can_order:
        return f"Sure! What would you like? {_example_sentence(examples)}"
    if _THANKS.match(phrase):
        return "You're welcome! Anything else I can help you with?"
    if _BYE.match(phrase):
        return "Goodbye, and thanks for stopping by!"
    return None


def help_reply(examples: Sequence[str], *, can_order: bool) -> str:
    return "I'm Tally, the shop's assistant. " + capabilities(examples, can_order=can_order)


def dont_know_reply(examples: Sequence[str], *, can_order: bool) -> str:
    """The honest answer when nothing retrieved speaks to the question."""
    return "I'm sorry, I don't know that from the shop's documents. " + capabilities(
        examples, can_order=can_order
    )


def _name_as_written(text: str, lowered: str) -> str:
    """The name with the capitals the person typed ("John", not "john")."""
    found = re.search(re.escape(lowered), text, flags=re.IGNORECASE)
    return found.group(0).strip() if found else lowered.title()
