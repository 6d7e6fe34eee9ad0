"""Word-level text helpers the offline assistant shares: tokens, stopwords and stem folding."""

from __future__ import annotations

import functools
import re

# Apostrophes stay inside words ("what's", "i'd") so contractions remain one recognisable token.
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
# Separators matter to the order parser: they end notes and split clauses.
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*|[,.;:!?]")

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
    not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've were weren't what what's whats when when's
    where where's which while who who's whom why why's will with won't would wouldn't you you'd
    you'll you're you've your yours yourself yourselves dont im ive id ill thats whats its lets
    please hi hello hey thanks thank ok okay yes also just get got tell know want like would
    """.split()
)


def normalise(text: str) -> str:
    """Lower-case ``text`` and fold typographic apostrophes, so "What’s" reads as "what's"."""
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``; hyphens and punctuation split words."""
    return _WORD.findall(normalise(text))


def tokens_with_separators(text: str) -> list[str]:
    """Words plus the separators , . ; : ! ? that end clauses (for the order parser)."""
    return _TOKEN.findall(normalise(text))


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Fold a word so that singular and plural (and -ing/-ed forms) meet.

    The result is never shown; it only has to be the same on both sides of a comparison, so
    "cookies"/"cookie" both become "cooki" and "quiches"/"quiche" both "quich".
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "i"
    elif word.endswith(("ches", "shes", "sses", "xes", "zzes", "oes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    return word


def content_stems(text: str, extra_stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Stems of the words that carry meaning, in order and without repeats."""
    return list(_content_stems(text, extra_stopwords))


# The same passages come back chat after chat: their stems are worth remembering.
@functools.lru_cache(maxsize=16384)
def _content_stems(text: str, extra_stopwords: frozenset[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for word in words(text):
        if word in STOPWORDS or word in extra_stopwords:
            continue
        seen.setdefault(stem(word), None)
    return tuple(seen)
