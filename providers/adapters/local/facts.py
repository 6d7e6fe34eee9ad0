"""Facts the customer asks the assistant to remember ("remember that my garage code is 7391"),
and questions that ask one back ("what is my garage code?").

A fact is acknowledged in the customer's own words; the exchange becomes one of their memories
(`chat.tasks`), which later conversations receive as passages of kind "memory". Only the
customer's side of a remembered exchange is believed, never the assistant's answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from providers.text import content_stems
from providers.types import Message, Passage

from .recall import split_exchange

_REMEMBER = re.compile(
    r"^\W*(?:(?:hi|hey|ok|okay|so|also|and|please)\W+)*(?:(?:can|could|would|will) you\s+)?"
    r"(?:please\s+)?(?:remember|note|keep in mind|don'?t forget|make a note)"
    r"(?:\s+(?:that|this))?\W+(?!(?:what|when|where|who|why|how|which|if|whether)\b)"
    r"(?P<fact>.+?)[\s.!?]*$",
    re.IGNORECASE | re.DOTALL,
)
_ASKED = re.compile(
    r"^\W*(?:(?:and|so|ok|okay|hey|hi)\W+)*(?:(?:what|what's|whats)\s+(?:is|was|are|were)?\s*"
    r"|(?:do you (?:remember|know)|remind me(?: of)?|tell me)\s+(?:what\s+)?)"
    r"my\s+(?P<topic>[a-z0-9' -]+?)(?:\s+(?:is|was|are|were))?\s*\??\s*$",
    re.IGNORECASE,
)
_STATED = re.compile(
    r"\bmy\s+(?P<topic>[a-z0-9' -]+?)\s+(?:is|are|was|were)\s+(?P<value>[^.,;!?\n]+)",
    re.IGNORECASE,
)
# "My order" and "my total" are the draft's to answer (the view_order tool), not a memory's.
_ORDER_WORDS = frozenset("order orders cart basket total bill".split())
_SECOND_PERSON = {
    "my": "your",
    "mine": "yours",
    "me": "you",
    "i": "you",
    "i'm": "you're",
    "im": "you're",
    "am": "are",
    "myself": "yourself",
    "we": "you",
    "our": "your",
    "us": "you",
}


def remember_reply(text: str) -> str | None:
    """The acknowledgement of a fact to remember, or None when ``text`` asks for none."""
    found = _REMEMBER.match(text.strip())
    if found is None:
        return None
    fact = found.group("fact").strip()
    if not fact:
        return None
    return f"Noted: {_to_second_person(fact)}."


def asked_topic(text: str) -> str | None:
    """What ``text`` asks about the customer ("garage code"), or None if it asks no such thing."""
    found = _ASKED.match(text.strip())
    if found is None:
        return None
    topic = found.group("topic").strip()
    if not content_stems(topic) or set(topic.lower().split()) & _ORDER_WORDS:
        return None
    return topic


def fact_reply(topic: str, history: Sequence[Message], passages: Sequence[Passage]) -> str:
    """The answer to "what is my <topic>?" from what the customer said: in this conversation
    first, then in the memories retrieved for this turn; an honest "I don't know" otherwise."""
    for message in reversed(history):
        if message.role == "user":
            value = _value(topic, message.content)
            if value:
                return f"Your {topic} is {value} (you told me earlier in this conversation)."
    memories = sorted(
        (p for p in passages if p.kind == "memory"), key=lambda p: p.score, reverse=True
    )
    for passage in memories:
        asked, _ = split_exchange(passage.text)
        value = _value(topic, asked)
        if value:
            return f"Your {topic} is {value} (you told me in an earlier conversation)."
    return (
        f"I don't know your {topic}: you haven't told me. Say \u201cremember that my {topic} "
        "is \u2026\u201d and I will."
    )


def _value(topic: str, text: str) -> str | None:
    """What ``text`` says the customer's ``topic`` is ("my garage code is 7391" -> "7391")."""
    wanted = set(content_stems(topic))
    for found in _STATED.finditer(text):
        if wanted <= set(content_stems(found.group("topic"))):
            return found.group("value").strip()
    return None


def _to_second_person(text: str) -> str:
    return re.sub(
        r"[A-Za-z']+",
        lambda word: _SECOND_PERSON.get(word.group(0).lower(), word.group(0)),
        text,
    )
