"""Reads: which documents a user may see, hybrid search, and the chat's context passages.

A user's search only ever touches two scopes, the shared one and the user's own, and the
queries that rank and read chunks decide which of them the user may see (and which still
exist). A search costs one query for the scopes' states, one for the full-text ranking and one
for the chunks it returns (and one more for a scope that gained chunks since).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from providers.types import Passage
from retrieval import embedders, index, lexical
from retrieval.embedders import Embedder
from retrieval.exceptions import DocumentNotFound
from retrieval.models import SHARED_SCOPE, Chunk, Document, IndexState, user_scope

MEMORY_SOURCE = "Earlier conversation"
# Reciprocal rank fusion's constant: the usual 60 lets a chunk ranked well by both rankings
# beat one ranked first by only one of them.
RRF_K = 60
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
    them. Two rankings, the vectors' and (with `RETRIEVAL_HYBRID`) the database's full-text
    search, are fused by reciprocal rank. A chunk whose similarity to the query is under
    ``min_score`` (default: `RETRIEVAL_MIN_SCORE`, else the embedder's own floor) is dropped,
    unless it holds an identifier the query names (a product code, an order number). Each
    round asks for more when filters left fewer than ``k``; ``rounds`` caps them (and so the
    queries), at the price of returning fewer than ``k``.
    """
    scopes = [SHARED_SCOPE, user_scope(user.pk)] if user.pk is not None else [SHARED_SCOPE]
    states = index.states(scopes)
    if not states:
        return []
    embedder = embedders.current()
    vector = embedders.normalise(embedder.embed([query]))[0]
    _check(states, embedder, vector)
    floor = _floor(embedder, min_score)
    words = lexical.terms(query) if settings.RETRIEVAL_HYBRID else []
    exact = frozenset(lexical.identifiers(words))
    visible = _visible(user, scopes=scopes, kinds=kinds, exclude_conversation=exclude_conversation)
    fetch, round_ = k * _OVERFETCH, 1
    while True:
        by_vector, exhausted = index.search(states, vector, k=fetch)
        by_words = lexical.ranked(
            words,
            scopes=scopes,
            kinds=kinds,
            user_id=user.pk,
            exclude_conversation=exclude_conversation,
            k=fetch,
        )
        found = _hydrate([chunk_id for chunk_id, _ in by_vector] + by_words, visible, vector)
        relevant = {
            chunk_id: hit
            for chunk_id, hit in found.items()
            if hit.score >= floor or (exact and lexical.names(hit.text, exact))
        }
        hits = _fused(relevant, [chunk_id for chunk_id, _ in by_vector], by_words)
        # The vectors come best first: once the last is under the floor, asking for more finds
        # only weaker ones (and the full-text ranking has had its say).
        below = bool(by_vector) and by_vector[-1][1] < floor
        if len(hits) >= k or exhausted or below or len(by_vector) < fetch or round_ == rounds:
            return hits[:k]
        fetch, round_ = fetch * _OVERFETCH, round_ + 1


def _floor(embedder: Embedder, min_score: float | None) -> float:
    if min_score is not None:
        return min_score
    configured = settings.RETRIEVAL_MIN_SCORE
    return embedder.min_score if configured is None else configured


def _fused(hits: Mapping[int, Hit], *rankings: Sequence[int]) -> list[Hit]:
    """``hits`` ordered by reciprocal rank fusion of ``rankings`` (ids, best first; those not
    in ``hits`` are skipped): each ranking gives a chunk 1 / (`RRF_K` + its rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        rank = 0
        for chunk_id in ranking:
            if chunk_id in hits:
                rank += 1
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    return [
        hits[chunk_id] for chunk_id in sorted(fused, key=lambda c: (-fused[c], -hits[c].score, c))
    ]


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


def warm() -> None:
    """Load the shared index and the embedder before the first search needs them; for
    `core.warmup`. (The first search of each user's own scope still loads that one.)"""
    embedders.current()
    for state in index.states([SHARED_SCOPE]):
        index.loaded(state)


def _check(states: Sequence[IndexState], embedder: Embedder, vector: np.ndarray) -> None:
    for state in states:
        if (state.embedder, state.dim) != (embedder.name, len(vector)) and (
            Chunk.objects.filter(scope=state.scope).exists()
        ):
            index.check_embedder(state, embedder=embedder.name, dim=len(vector))


def _visible(
    user: AbstractBaseUser,
    *,
    scopes: Collection[str],
    kinds: Collection[str],
    exclude_conversation: int | None,
) -> Q:
    """Which chunks a search may return: shared documents and the user's own chunks, of the
    asked kinds, in the searched scopes; never a memory of the conversation being continued
    (its history already holds it)."""
    whose = Q(shared=True, kind=Chunk.Kind.DOCUMENT)
    if user.pk is not None:
        whose |= Q(owner_id=user.pk)
    visible = Q(scope__in=list(scopes), kind__in=list(kinds)) & whose
    if exclude_conversation is not None:
        visible &= ~Q(kind=Chunk.Kind.MEMORY, conversation_id=exclude_conversation)
    return visible


def _hydrate(ids: Sequence[int], visible: Q, query: np.ndarray) -> dict[int, Hit]:
    """The chunks that still exist and the user may see, as hits scored by their similarity
    to ``query``: one query by primary key, filtered by ``visible``."""
    if not ids:
        return {}
    rows = Chunk.objects.filter(visible, pk__in=set(ids)).values_list(
        "id",
        "kind",
        "text",
        "ordinal",
        "document_id",
        "document__title",
        "label",
        "conversation_id",
        "shared",
        "vector",
        named=True,
    )
    return {
        row.id: Hit(
            chunk_id=row.id,
            score=float(np.frombuffer(row.vector, dtype="<f4") @ query),
            kind=row.kind,
            text=row.text,
            ordinal=row.ordinal,
            document_id=row.document_id,
            title=row.document__title or row.label,
            conversation_id=row.conversation_id,
            shared=row.shared,
        )
        for row in rows
    }


def _passage(hit: Hit) -> Passage:
    if hit.kind == Chunk.Kind.MEMORY:
        source = f'{MEMORY_SOURCE}: "{hit.title}"' if hit.title else MEMORY_SOURCE
        return Passage(source=source, text=hit.text, score=hit.score, kind="memory", private=True)
    return Passage(
        source=hit.title, text=hit.text, score=hit.score, kind="document", private=not hit.shared
    )
