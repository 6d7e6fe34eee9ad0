"""Reads: which documents a user may see, semantic search, and the chat's context passages.

A user's search only ever touches two indexes, the shared one and the user's own, and every
hit is re-checked against the database (visible, still there) before it is returned. A search
costs one query for the scopes' versions and one for the chunks it returns.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from core import statements
from providers.types import Passage
from retrieval import embedders, index
from retrieval.embedders import Embedder
from retrieval.exceptions import DocumentNotFound
from retrieval.models import SHARED_SCOPE, Chunk, Document, IndexState, user_scope

MEMORY_SOURCE = "Earlier conversation"
# Asked of each index per round, as a multiple of k; grows when visibility filters (a
# deleted document, this conversation's own memories) leave too few hits.
_OVERFETCH = 4


@dataclass(frozen=True)
class Hit:
    """One ranked chunk: a document passage or one of the user's remembered exchanges."""

    chunk_id: int
    score: float
    kind: str
    text: str
    ordinal: int
    document_id: int | None
    title: str
    conversation_id: int | None
    shared: bool = False


def documents_visible_to(*, user: AbstractBaseUser) -> QuerySet[Document]:
    """The user's own documents (any status) and the shared ones that are ready, newest first."""
    return (
        Document.objects.filter(Q(owner_id=user.pk) | Q(shared=True, status=Document.Status.READY))
        .defer("text")
        .annotate(chunk_count=Count("chunks"))
        .order_by("-created_at", "-id")
    )


def documents_of(*, user: AbstractBaseUser) -> QuerySet[Document]:
    """The documents the user uploaded (shared ones too), oldest first, without their text."""
    return (
        Document.objects.filter(owner_id=user.pk)
        .defer("text")
        .annotate(chunk_count=Count("chunks"))
        .order_by("created_at", "id")
    )


def document_get(*, user: AbstractBaseUser, document_id: int) -> Document:
    """A document the user may see; `DocumentNotFound` otherwise (others' private ones too)."""
    document = documents_visible_to(user=user).filter(pk=document_id).first()
    if document is None:
        raise DocumentNotFound(f"Document {document_id} not found.")
    return document


def search(
    *,
    user: AbstractBaseUser,
    query: str,
    k: int,
    kinds: Collection[str] = (Chunk.Kind.DOCUMENT,),
    exclude_conversation: int | None = None,
    min_score: float | None = None,
    rounds: int | None = None,
) -> list[Hit]:
    """The ``k`` best chunks for ``query`` among what ``user`` may see, best first.

    Shared documents and the user's own chunks only; memories only with ``kinds`` asking for
    them. Hits scoring below ``min_score`` (default `RETRIEVAL_MIN_SCORE`) are dropped. Each
    round asks the indexes for more when filters left fewer than ``k``; ``rounds`` caps them
    (and so the queries), at the price of returning fewer than ``k``.
    """
    scopes = [SHARED_SCOPE, user_scope(user.pk)] if user.pk is not None else [SHARED_SCOPE]
    states = index.states(scopes)
    if not states:
        return []
    embedder = embedders.current()
    vector = embedders.normalise(embedder.embed([query]))[0]
    _check(states, embedder, vector)
    floor = settings.RETRIEVAL_MIN_SCORE if min_score is None else min_score
    visible = _Visible(scopes=frozenset(scopes), kinds=frozenset(kinds), user_id=user.pk)
    fetch, round_ = k * _OVERFETCH, 1
    while True:
        ranked, exhausted = index.search(states, vector, k=fetch)
        ranked = [(chunk_id, score) for chunk_id, score in ranked if score >= floor]
        hits = _hydrate(ranked, visible, exclude_conversation)
        if len(hits) >= k or exhausted or len(ranked) < fetch or round_ == rounds:
            return hits[:k]
        fetch, round_ = fetch * _OVERFETCH, round_ + 1


def passages_for(
    user: AbstractBaseUser,
    text: str,
    *,
    k: int | None = None,
    exclude_conversation: int | None = None,
) -> list[Passage]:
    """Context for a chat turn: shared documents, the user's documents and the user's own past
    exchanges, best first. Never another user's private chunk or memory.

    Fits `chat.context.PASSAGE_SOURCES` as is: ``(user, text) -> Sequence[Passage]``.
    """
    if not text.strip():
        return []
    hits = search(
        user=user,
        query=text,
        k=k or settings.RETRIEVAL_TOP_K,
        kinds=(Chunk.Kind.DOCUMENT, Chunk.Kind.MEMORY),
        exclude_conversation=exclude_conversation,
        # One round, a fixed number of queries: in a long conversation its own memories
        # (left out: the history holds them) may crowd the best hits, and then the turn gets
        # fewer passages rather than more queries.
        rounds=1,
    )
    return [_passage(hit) for hit in hits]


def index_health() -> str:
    """For a health check: the embedder is usable, every scope was built by it, and the index
    folder is writable. Raises `EmbedderNotConfigured` or `EmbedderMismatch` otherwise."""
    embedder = embedders.current()
    states = list(IndexState.objects.all())
    for state in states:
        if state.embedder != embedder.name or (embedder.dim not in (None, state.dim)):
            if Chunk.objects.filter(scope=state.scope).exists():
                index.check_embedder(state, embedder=embedder.name, dim=embedder.dim)
    folder = index.index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"The index folder {folder} is not writable.")
    return f"ok ({embedder.name}, scopes: {len(states)})"


def _check(states: Sequence[IndexState], embedder: Embedder, vector: np.ndarray) -> None:
    for state in states:
        if (state.embedder, state.dim) != (embedder.name, len(vector)) and (
            Chunk.objects.filter(scope=state.scope).exists()
        ):
            index.check_embedder(state, embedder=embedder.name, dim=len(vector))


class _HitRow(NamedTuple):
    """What a hit is made from: a chunk's row, with its document's title."""

    id: int
    scope: str
    shared: bool
    owner_id: int | None
    kind: str
    text: str
    ordinal: int
    document_id: int | None
    document__title: str | None
    label: str
    conversation_id: int | None


_HIT_FIELDS = _HitRow._fields


@dataclass(frozen=True)
class _Visible:
    """Which chunks a search may return: shared documents and the user's own chunks, of the
    asked kinds, in the searched scopes."""

    scopes: frozenset[str]
    kinds: frozenset[str]
    user_id: int | None

    def __call__(self, row: _HitRow) -> bool:
        return (
            row.scope in self.scopes
            and row.kind in self.kinds
            and (
                (row.shared and row.kind == Chunk.Kind.DOCUMENT)
                or (self.user_id is not None and row.owner_id == self.user_id)
            )
        )


@functools.cache
def _hit_select(vendor: str) -> str:
    """`SELECT` of `_HIT_FIELDS` by chunk id, up to the ids' ``IN``: written out once (see
    `core.statements`). ``vendor`` keys the cache, since quoting is the backend's."""

    def select(name: str) -> str:
        if name == "document__title":
            return statements.column(Document, "title")
        return statements.column(Chunk, name)

    return (
        f"SELECT {', '.join(map(select, _HIT_FIELDS))} "  # noqa: S608 - the models' own names
        f"FROM {statements.table(Chunk)} LEFT OUTER JOIN {statements.table(Document)} "
        f"ON {statements.column(Chunk, 'document_id')} = {statements.column(Document, 'id')} "
        f"WHERE {statements.column(Chunk, 'id')} IN "
    )


def _hit_rows(chunk_ids: Sequence[int]) -> list[_HitRow]:
    """The chunks' `_HIT_FIELDS`, by primary key; those that no longer exist are missing."""
    sql = f"{_hit_select(statements.db().vendor)}({statements.placeholders(len(chunk_ids))})"
    return list(map(_HitRow._make, statements.fetch(sql, chunk_ids)))


def _excluded(row: _HitRow, conversation_id: int | None) -> bool:
    """A memory of the conversation being continued: its history already holds it."""
    return (
        conversation_id is not None
        and row.kind == Chunk.Kind.MEMORY
        and row.conversation_id == conversation_id
    )


def _hydrate(
    ranked: list[tuple[int, float]], visible: _Visible, exclude_conversation: int | None
) -> list[Hit]:
    """The ranked chunks that still exist and the user may see, as hits. One plain query by
    primary key; the visibility rules are checked on the rows it returns."""
    if not ranked:
        return []
    rows = _hit_rows([chunk_id for chunk_id, _ in ranked])
    found = {
        row.id: row for row in rows if visible(row) and not _excluded(row, exclude_conversation)
    }
    return [
        Hit(
            chunk_id=chunk_id,
            score=score,
            kind=row.kind,
            text=row.text,
            ordinal=row.ordinal,
            document_id=row.document_id,
            title=row.document__title or row.label,
            conversation_id=row.conversation_id,
            shared=row.shared,
        )
        for chunk_id, score in ranked
        if (row := found.get(chunk_id)) is not None
    ]


def _passage(hit: Hit) -> Passage:
    if hit.kind == Chunk.Kind.MEMORY:
        source = f'{MEMORY_SOURCE}: "{hit.title}"' if hit.title else MEMORY_SOURCE
        return Passage(source=source, text=hit.text, score=hit.score, kind="memory", private=True)
    return Passage(
        source=hit.title, text=hit.text, score=hit.score, kind="document", private=not hit.shared
    )
