"""Questions about the conversation itself: what the user just said, or asked in the past."""

from __future__ import annotations

import re
from collections.abc import Sequence

from providers.text import content_stems, normalise
from providers.types import Message, Passage

from .answers import QUESTION_NOISE, matches

_RECALL = re.compile(
    r"\b(what|which)\b.*\b(did|have|had) i\b.*\b(ask|asked|say|said|write|wrote|tell|told|type|"
    r"typed|mention|mentioned)\b|\bdid i (ever )?(ask|say|mention|tell)\b|\bremind me what i\b|"
    r"\bwhat was (my|the) (last|previous) (question|message)\b|\bdo you remember what i\b"
)
_PAST = re.compile(
    r"\b(before|earlier|previously|last time|yesterday|ago|other day|last week|in the past|ever|"
    r"remember)\b"
)
_JUST = re.compile(r"\b(just|last (question|message)|previous (question|message))\b")
# What a recall question says about recalling, as opposed to the topic being recalled.
_RECALL_WORDS = QUESTION_NOISE | frozenset(
    "ask asked say said write wrote tell told type typed mention mentioned before earlier "
    "previously last time yesterday ago other day week past ever remember remind question "
    "questions message messages".split()
)
_MAX_QUOTED_MEMORIES = 2
_MAX_QUOTE_CHARS = 240
_QUESTION_LINE = re.compile(r"^\s*(?:user|you|q|question|customer)\s*:\s*", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^\s*(?:assistant|tally|a|answer|bot)\s*:\s*", re.IGNORECASE)


def is_recall_question(text: str) -> bool:
    """Whether ``text`` asks about what the user said or asked before."""
    return bool(_RECALL.search(normalise(text)))


def recall(question: str, messages: Sequence[Message], passages: Sequence[Passage]) -> str:
    """Answer a recall question from this conversation's history or the user's past exchanges."""
    text = normalise(question)
    earlier_turns = [m.content for m in messages if m.role == "user"][:-1]
    topic = content_stems(question, _RECALL_WORDS)
    wants_history = bool(_JUST.search(text)) or (not _PAST.search(text) and not topic)
    if wants_history and earlier_turns:
        verb = "asked" if re.search(r"\bask", text) else "said"
        return f'You just {verb}: "{_clip(earlier_turns[-1])}"'
    if _JUST.search(text):
        return "That's the first thing you've said in this conversation."
    remembered = _from_memory(topic, passages)
    if remembered:
        return remembered
    in_conversation = [turn for turn in earlier_turns if _overlaps(topic, turn)]
    if in_conversation:
        return f'Earlier in this conversation you asked: "{_clip(in_conversation[-1])}"'
    if topic:
        return "I can't find an earlier question of yours about that."
    return "I don't have any earlier questions of yours on record yet."


def _from_memory(topic: Sequence[str], passages: Sequence[Passage]) -> str | None:
    memories = [(index, p) for index, p in enumerate(passages) if p.kind == "memory"]
    if topic:
        scored = [
            (sum(1 for t in topic if matches(t, content_stems(p.text))), index, p)
            for index, p in memories
        ]
        ranked = [p for score, _, p in sorted(scored, key=_by_relevance) if score > 0]
    else:
        ranked = [p for _, p in sorted(memories, key=lambda item: (-item[1].score, item[0]))]
    if not ranked:
        return None
    parts = []
    for number, passage in enumerate(ranked[:_MAX_QUOTED_MEMORIES]):
        asked, answered = split_exchange(passage.text)
        lead = "Earlier you asked" if number == 0 else "You also asked"
        part = f'{lead}: "{_clip(asked)}"'
        if answered:
            part += f' I answered: "{_clip(answered)}"'
        parts.append(part)
    return " ".join(parts)


def _by_relevance(item: tuple[int, int, Passage]) -> tuple[int, float, int]:
    score, index, passage = item
    return (-score, -passage.score, index)


def split_exchange(text: str) -> tuple[str, str]:
    """A stored exchange's question and answer, when it marks them ("User: …", "Assistant: …")."""
    asked: list[str] = []
    answered: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if _QUESTION_LINE.match(line):
            current = asked
            line = _QUESTION_LINE.sub("", line)
        elif _ANSWER_LINE.match(line):
            current = answered
            line = _ANSWER_LINE.sub("", line)
        if current is not None and line.strip():
            current.append(line.strip())
    if not asked:
        return text.strip(), ""
    return " ".join(asked), " ".join(answered)


def _overlaps(topic: Sequence[str], text: str) -> bool:
    stems = content_stems(text)
    return any(matches(t, stems) for t in topic)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _MAX_QUOTE_CHARS:
        return text
    return text[:_MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + "\u2026"
