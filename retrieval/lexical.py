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
# Ranking costs each matching chunk its BM25 score (~5 µs on SQLite): a question whose match
# is more chunks than this is left to the vectors. Words that common carry little signal, and a
# chat's retrieval stays within its budget (p99 of 250 ms at 100k chunks without the cap).
MAX_MATCHES = 300


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
    params: list[Any] = [match, MAX_MATCHES + 1, MAX_MATCHES, *scopes, *kinds]
    if user_id is not None:
        params.append(user_id)
    if exclude_conversation is not None:
        params.append(exclude_conversation)
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
    """The ranking query for one shape of visibility filter, written once: the first
    `MAX_MATCHES` + 1 matches are scored, and none is kept when there are more than
    `MAX_MATCHES`."""
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
        # BM25 is computed for the first `MAX_MATCHES` + 1 matches only, and none is kept when
        # there are more than `MAX_MATCHES`.
        return (
            "WITH m AS MATERIALIZED (SELECT rowid AS id, rank FROM retrieval_chunk_fts "  # noqa: S608
            "WHERE retrieval_chunk_fts MATCH %s LIMIT %s) "
            f"SELECT {col('id')} FROM m JOIN {chunk} c ON {col('id')} = m.id "
            f"WHERE (SELECT count(*) FROM m) <= %s AND {where} ORDER BY m.rank LIMIT %s"
        )
    # The expression of migration 0004's index, exactly, or the index is not used.
    text = statements.name(Chunk, "text")
    vector = f"to_tsvector('english'::regconfig, translate(x.{text}, '-/_', '   '))"
    return (
        "WITH q AS (SELECT to_tsquery('english'::regconfig, %s) AS q), "  # noqa: S608
        f"m AS MATERIALIZED (SELECT x.{statements.name(Chunk, 'id')} AS id, "
        f"ts_rank_cd({vector}, q.q) AS rank FROM {chunk} x, q WHERE {vector} @@ q.q LIMIT %s) "
        f"SELECT {col('id')} FROM m JOIN {chunk} c ON {col('id')} = m.id "
        f"WHERE (SELECT count(*) FROM m) <= %s AND {where} "
        f"ORDER BY m.rank DESC, {col('id')} LIMIT %s"
    )
