"""The lexical half of hybrid search: the database's own full-text search.

SQLite ranks with FTS5's BM25 over a Porter-stemmed index (migration 0004 keeps it in step with
the chunk rows by triggers); PostgreSQL with `ts_rank_cd` over a GIN index of the English text
search vector. Either way the ranking is one query that applies the same visibility rules as
vector search, and nothing outside the database has to be kept in step.

A question's content words (stopwords dropped, unless nothing else is left) match a chunk that
holds all of them, or any identifier among them (a word with a digit: a product code, an order
number): what an embedding blurs. BM25 ranks the matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Sequence
from typing import Any

from django.db import connection

from core import statements
from providers.text import STOPWORDS, normalise
from retrieval.models import Chunk

# Letters and digits only: what both tokenizers index, and nothing a query syntax could read
# as an operator.
_TERM = re.compile(r"[^\W_]+")
# More words than this in a question add cost and little ranking: the first are kept.
MAX_TERMS = 24


def terms(text: str) -> list[str]:
    """The words of ``text`` a lexical search looks for, lower-cased, in order, once each."""
    found = _TERM.findall(normalise(text))
    content = [word for word in found if word not in STOPWORDS] or found
    return list(dict.fromkeys(content))[:MAX_TERMS]


def names(text: str, wanted: Collection[str]) -> bool:
    """Whether ``text`` has one of the ``wanted`` words (lower-cased) as a word of its own."""
    return not set(wanted).isdisjoint(_TERM.findall(normalise(text)))


def identifiers(words: Sequence[str]) -> list[str]:
    """The words that name one thing exactly (product codes, order numbers): those with a
    digit in them."""
    return [word for word in words if any(ch.isdigit() for ch in word)]


def ranked(
    words: Sequence[str],
    *,
    scopes: Collection[str],
    kinds: Collection[str],
    user_id: int | None,
    exclude_conversation: int | None,
    k: int,
) -> list[int]:
    """The ids of the ``k`` visible chunks that best match any of ``words``, best first.

    Visible as in vector search: chunks of ``scopes`` and ``kinds`` that are shared documents
    or the user's own, never a memory of ``exclude_conversation``.
    """
    if not words or k <= 0:
        return []
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        return []
    match = _match(vendor, words)
    sql = _select(
        vendor,
        len(scopes),
        len(kinds),
        owned=user_id is not None,
        excluding=exclude_conversation is not None,
    )
    params: list[Any] = [match, *scopes, *kinds]
    if user_id is not None:
        params.append(user_id)
    if exclude_conversation is not None:
        params.append(exclude_conversation)
    if vendor == "postgresql":
        params.append(match)
    params.append(k)
    return [row[0] for row in statements.fetch(sql, params)]


def _match(vendor: str, words: Sequence[str]) -> str:
    """The full-text query: chunks holding every one of ``words``, or any identifier among
    them. A chunk sharing one common word with a paraphrased question ("day", "menu") is not
    evidence; measured on bench/retrieval_eval.py, matching any word pushed the right passage
    out of the top 3 for a fifth of the paraphrases, while this costs none of them."""
    quote = (lambda word: f'"{word}"') if vendor == "sqlite" else (lambda word: word)
    both, either = (" AND ", " OR ") if vendor == "sqlite" else (" & ", " | ")
    clauses = [f"({both.join(quote(word) for word in words)})"]
    clauses += [quote(word) for word in identifiers(words)]
    return either.join(clauses)


@functools.cache
def _select(vendor: str, scopes: int, kinds: int, *, owned: bool, excluding: bool) -> str:
    """The ranking query for one shape of visibility filter, written once."""
    chunk = statements.table(Chunk)

    def col(field: str) -> str:
        return f"c.{statements.name(Chunk, field)}"

    visible = [
        f"{col('scope')} IN ({statements.placeholders(scopes)})",
        f"{col('kind')} IN ({statements.placeholders(kinds)})",
    ]
    shared = f"({col('shared')} AND {col('kind')} = {statements.literal(Chunk.Kind.DOCUMENT)})"
    visible.append(f"({shared} OR {col('owner')} = %s)" if owned else shared)
    if excluding:
        visible.append(
            f"NOT ({col('kind')} = {statements.literal(Chunk.Kind.MEMORY)} "
            f"AND {col('conversation_id')} IS NOT NULL AND {col('conversation_id')} = %s)"
        )
    where = " AND ".join(visible)
    if vendor == "sqlite":
        return (
            f"SELECT {col('id')} FROM retrieval_chunk_fts "  # noqa: S608
            f"JOIN {chunk} c ON {col('id')} = retrieval_chunk_fts.rowid "
            f"WHERE retrieval_chunk_fts MATCH %s AND {where} "
            "ORDER BY retrieval_chunk_fts.rank LIMIT %s"
        )
    # The expression of migration 0004's index, exactly, or the index is not used.
    vector = f"to_tsvector('english'::regconfig, translate({col('text')}, '-/_', '   '))"
    return (
        f"SELECT {col('id')} FROM {chunk} c "  # noqa: S608
        f"WHERE {vector} @@ to_tsquery('english'::regconfig, %s) AND {where} "
        f"ORDER BY ts_rank_cd({vector}, to_tsquery('english'::regconfig, %s)) DESC, "
        f"{col('id')} LIMIT %s"
    )
