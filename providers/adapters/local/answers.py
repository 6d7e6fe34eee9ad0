"""Extractive answers: the most relevant sentences of the retrieved passages, quoted by source."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from providers.text import content_stems
from providers.types import Passage

# Words that say "I am asking" rather than what the question is about.
QUESTION_NOISE = frozenset(
    "tell know explain say question answer anything something please shop store there".split()
)
# Stems shorter than this are too ambiguous to match by prefix ("open" vs "opera").
_PREFIX_MIN = 5
_MAX_QUOTED_SENTENCES = 2
_MAX_SENTENCE_CHARS = 320
# Headings and FAQ questions are not quoted, but they say what the sentences below them are about.
_CONTEXT_WEIGHT = 0.5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_BULLET = re.compile(r"^(?:[-*\u2022]+|\d+[.)])\s+")
_FAQ_QUESTION = re.compile(r"^(?:q|question)\s*[:.]\s*", re.IGNORECASE)
_FAQ_ANSWER = re.compile(r"^(?:a|answer)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    """A quotable sentence, its stems, and the stems of the heading or question above it."""

    text: str
    stems: frozenset[str]
    context: frozenset[str]

    @property
    def about(self) -> frozenset[str]:
        """Its own stems and its heading's."""
        return self.stems | self.context


def _unwrap(text: str) -> list[str]:
    """Lines joined back into paragraphs: hard-wrapped text must not cut sentences in two."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        starts_block = (
            not line
            or line.startswith("#")
            or _BULLET.match(line) is not None
            or _FAQ_QUESTION.match(line) is not None
            or _FAQ_ANSWER.match(line) is not None
        )
        previous = lines[-1] if lines else ""
        if previous and not starts_block and not previous.startswith("#"):
            if not previous.endswith(":"):
                lines[-1] = f"{previous} {line}"
                continue
        lines.append(line)
    return lines


def split_sentences(text: str) -> list[Sentence]:
    """The quotable sentences of a document chunk (Markdown headings and FAQ questions aside)."""
    found: list[Sentence] = []
    context: frozenset[str] = frozenset()
    for raw in _unwrap(text):
        line = _BULLET.sub("", raw.strip()).replace("**", "").replace("__", "")
        heading = line.startswith("#")
        line = line.lstrip("#").strip()
        if not line:
            continue
        if heading or (line.endswith(":") and len(line.split()) <= 8):
            context = frozenset(content_stems(line))
            continue
        question = _FAQ_QUESTION.match(line)
        if question:
            context = frozenset(content_stems(line[question.end() :]))
            continue
        for piece in _SENTENCE_END.split(_FAQ_ANSWER.sub("", line)):
            piece = piece.strip()
            if piece.endswith("?"):
                context = frozenset(content_stems(piece))
            elif piece:
                found.append(Sentence(piece, frozenset(content_stems(piece)), context))
    return found


def matches(term: str, stems: Collection[str]) -> bool:
    """Whether a question term appears among ``stems``, allowing "deliver"/"delivery": one
    is a prefix of the other, and both are at least `_PREFIX_MIN` letters long."""
    if term in stems:
        return True
    if len(term) < _PREFIX_MIN:
        return False
    return any(
        len(stem) >= _PREFIX_MIN and (stem.startswith(term) or term.startswith(stem))
        for stem in stems
    )


def answer_from_passages(question: str, passages: Sequence[Passage]) -> str | None:
    """Quote the sentences that best answer ``question``, naming their source; None if none do.

    Passages are ranked by how much of the question their best sentence covers, weighting rare
    words higher; the retriever's own score only breaks ties.
    """
    terms = content_stems(question, QUESTION_NOISE)
    documents = [
        (passage, split_sentences(passage.text)) for passage in passages if passage.kind != "memory"
    ]
    if not terms or not documents:
        return None
    weights = _term_weights(terms, [s for _, sentences in documents for s in sentences])
    best: tuple[float, float, int] | None = None
    chosen: tuple[Passage, list[tuple[float, int, Sentence]]] | None = None
    for index, (passage, sentences) in enumerate(documents):
        scored = [(_score(s, terms, weights), position, s) for position, s in enumerate(sentences)]
        relevant = [item for item in scored if item[0] > 0]
        if not relevant:
            continue
        covered = {t for t in terms for s in sentences if matches(t, s.about)}
        rank = (
            max(item[0] for item in relevant) + 0.1 * sum(weights[t] for t in covered),
            passage.score,
            -index,
        )
        if best is None or rank > best:
            best, chosen = rank, (passage, relevant)
    if chosen is None:
        return None
    passage, relevant = chosen
    # Prefer sentences that say the question's words themselves over ones that only sit
    # under a matching heading.
    direct = [item for item in relevant if any(matches(t, item[2].stems) for t in terms)]
    pool = direct or relevant
    top = sorted(pool, key=lambda item: (-item[0], item[1]))[:_MAX_QUOTED_SENTENCES]
    quote = " ".join(_clip(item[2].text, terms) for item in sorted(top, key=lambda item: item[1]))
    return f'According to "{passage.source}": {quote}'


def _term_weights(terms: Sequence[str], sentences: Sequence[Sentence]) -> dict[str, float]:
    """Inverse document frequency over the retrieved sentences: rare words decide."""
    total = len(sentences)
    weights: dict[str, float] = {}
    for term in terms:
        frequency = sum(1 for s in sentences if matches(term, s.about))
        weights[term] = 1.0 + math.log((total + 1) / (frequency + 1))
    return weights


def _score(sentence: Sentence, terms: Sequence[str], weights: dict[str, float]) -> float:
    score = 0.0
    for term in terms:
        if matches(term, sentence.stems):
            score += weights[term]
        elif matches(term, sentence.context):
            score += _CONTEXT_WEIGHT * weights[term]
    return score


def _clip(text: str, terms: Sequence[str]) -> str:
    """A long run-on "sentence" (a table row, a chunk without stops) cut around its match."""
    if len(text) <= _MAX_SENTENCE_CHARS:
        return text if text[-1] in ".!?\"')" else text + "."
    pieces = text.split()
    start = max(0, _first_mention(pieces, terms) - 8)
    window: list[str] = []
    length = -1  # of the pieces joined by spaces: one space fewer than pieces
    for piece in pieces[start:]:
        length += len(piece) + 1
        if length > _MAX_SENTENCE_CHARS:
            break
        window.append(piece)
    prefix = "\u2026" if start > 0 else ""
    return prefix + " ".join(window) + "\u2026"


def _first_mention(pieces: Sequence[str], terms: Sequence[str]) -> int:
    """The position of the first piece whose stems a term `matches` (0 if none does).

    The same test as ``matches(term, stems)`` for each term, turned inside out: a clip walks
    tens of pieces, and one set lookup plus the long terms' prefix checks per stem cost a
    fraction of a call per term and piece.
    """
    exact = frozenset(terms)
    long_terms = [term for term in terms if len(term) >= _PREFIX_MIN]
    for position, piece in enumerate(pieces):
        for stem in content_stems(piece):
            if stem in exact:
                return position
            if len(stem) >= _PREFIX_MIN:
                for term in long_terms:
                    if stem.startswith(term) or term.startswith(stem):
                        return position
    return 0
