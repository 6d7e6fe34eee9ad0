"""Writing what the index is built from: chunks with their embeddings, and the scope versions.

Every change follows one pattern: embed outside any transaction (it may be a network call),
then, in one transaction, lock the scope's `IndexState`, write the rows and move the state
(`advance` to the new highest chunk id, or count the removed ones). Nothing else: each
process's index catches up from the database at its next search (see `index`). A failure
before the commit leaves nothing behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone

from core import statements
from providers.exceptions import ProviderError
from retrieval import embedders, index, vectors
from retrieval.chunking import split_text
from retrieval.embedders import Embedder
from retrieval.exceptions import RetrievalError
from retrieval.models import Chunk, Document, IndexState, user_scope

log = logging.getLogger(__name__)

MEMORY_PART_CHARS = 1500
_REEMBED_BATCH = 256


def lock_scope(scope: str, *, embedder: str, dim: int) -> IndexState:
    """Lock the scope's state before inserting its chunks (so its ids commit in order),
    refusing another embedder's vectors; an empty scope adopts the new embedder. Call inside
    the transaction that inserts, and `advance` the scope after."""
    state, _ = IndexState.objects.select_for_update().get_or_create(
        scope=scope, defaults={"embedder": embedder, "dim": dim, "stamp": uuid.uuid4().hex}
    )
    _adopt(state, embedder=embedder, dim=dim)
    return state


def lock_scopes(scopes: Collection[str], *, embedder: str, dim: int) -> None:
    """`lock_scope` for many scopes that gain chunks together, in a fixed number of queries.

    Every lock is taken in scope order, so two batches can never deadlock: the missing states
    are inserted in that order (a row another transaction is inserting waits for it), then
    all the states are locked in one query in that order.
    """
    wanted = sorted(set(scopes))
    statements.insert_all(
        [
            IndexState(scope=scope, embedder=embedder, dim=dim, stamp=uuid.uuid4().hex)
            for scope in wanted
        ],
        ignore_conflicts=True,
    )
    for state in index.states(wanted, for_update=True):
        _adopt(state, embedder=embedder, dim=dim)


def _adopt(state: IndexState, *, embedder: str, dim: int) -> None:
    if (state.embedder, state.dim) == (embedder, dim):
        return
    if Chunk.objects.filter(scope=state.scope).exists():  # rare: EMBEDDER changed
        index.check_embedder(state, embedder=embedder, dim=dim)
    state.embedder, state.dim, state.stamp = embedder, dim, uuid.uuid4().hex
    state.save(update_fields=["embedder", "dim", "stamp", "updated_at"])


def advance(scopes: Collection[str]) -> None:
    """Move each scope's `high` to its highest chunk id, in the transaction that inserted
    them (one UPDATE; the (scope, id) index finds each maximum)."""
    highest = (
        Chunk.objects.filter(scope=OuterRef("scope"))
        .order_by()
        .values("scope")
        .annotate(m=Max("id"))
    )
    IndexState.objects.filter(scope__in=list(scopes)).update(
        high=Subquery(highest.values("m")), updated_at=timezone.now()
    )


def _count_removed(scope: str, removed: int) -> None:
    """Count chunks deleted from the scope, in the transaction that deleted them."""
    if removed:
        IndexState.objects.filter(scope=scope).update(
            removed=F("removed") + removed, updated_at=timezone.now()
        )


def embed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    return embedders.normalise(embedder.embed(texts))


def index_document(*, document_id: int) -> Document | None:
    """Chunk, embed and index a processing document; it ends ready, or failed with no chunks."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None or document.status != Document.Status.PROCESSING:
        return document  # deleted meanwhile, or already done by an earlier attempt
    scope = document.scope
    try:
        pieces = split_text(document.text, size=settings.CHUNK_SIZE, overlap=settings.CHUNK_OVERLAP)
        embedder = embedders.current()
        matrix = embed(embedder, pieces)
        with transaction.atomic():
            locked = (
                Document.objects.select_for_update()
                .filter(pk=document_id, status=Document.Status.PROCESSING)
                .first()
            )
            if locked is None:
                return Document.objects.filter(pk=document_id).first()
            lock_scope(scope, embedder=embedder.name, dim=matrix.shape[1])
            chunks = Chunk.objects.bulk_create(
                [
                    Chunk(
                        document=locked,
                        owner_id=locked.owner_id,
                        shared=locked.shared,
                        scope=scope,
                        kind=Chunk.Kind.DOCUMENT,
                        ordinal=ordinal,
                        text=text,
                        vector=vectors.vector_bytes(row),
                    )
                    for ordinal, (text, row) in enumerate(zip(pieces, matrix, strict=True))
                ],
                batch_size=500,
            )
            advance([scope])
            locked.status, locked.error = Document.Status.READY, ""
            locked.save(update_fields=["status", "error"])
    except Exception as exc:
        return _failed(document_id, exc)
    log.info("indexed document %s: %d chunks in %s", document_id, len(chunks), scope)
    return locked


def _failed(document_id: int, exc: Exception) -> Document | None:
    if isinstance(exc, RetrievalError | ProviderError):
        reason = str(exc)
        log.warning("indexing document %s failed: %s", document_id, reason)
    else:
        reason = "Indexing failed because of an internal error; try uploading it again."
        log.exception("indexing document %s failed", document_id, exc_info=exc)
    Document.objects.filter(pk=document_id).update(status=Document.Status.FAILED, error=reason)
    return Document.objects.filter(pk=document_id).first()


def memory_text(question: str, answer: str) -> str:
    """A past exchange as it is embedded and shown: a `Q:` line and an `A:` line."""
    return f"Q: {_clip(question)}\nA: {_clip(answer)}"


@dataclass(frozen=True)
class Exchange:
    """A finished chat exchange to remember in its user's scope."""

    user_id: int
    conversation_id: int
    question: str
    answer: str
    conversation_title: str = ""


def index_memory(
    *, user_id: int, conversation_id: int, question: str, answer: str, conversation_title: str
) -> Chunk | None:
    """Embed and index one finished exchange in its user's scope."""
    exchange = Exchange(user_id, conversation_id, question, answer, conversation_title)
    return index_memories([exchange])[0]


def index_memories(exchanges: Sequence[Exchange]) -> list[Chunk | None]:
    """Embed and index finished exchanges as their users' memories, in order (None for an
    empty question).

    One embedding call, one transaction and one index update per user for the whole batch.
    When the batch cannot be written as a whole (one user's scope holds another embedder's
    vectors; a database error), each exchange is written on its own, so one bad exchange
    costs only itself.
    """
    wanted = [position for position, item in enumerate(exchanges) if item.question.strip()]
    found: list[Chunk | None] = [None] * len(exchanges)
    if not wanted:
        return found
    embedder = embedders.current()
    texts = [memory_text(exchanges[i].question, exchanges[i].answer) for i in wanted]
    matrix = embed(embedder, texts)
    try:
        written: list[Chunk | None] = list(
            _write_memories([exchanges[i] for i in wanted], texts, matrix, embedder)
        )
    except Exception:
        if len(wanted) == 1:
            raise
        log.warning(
            "could not remember %d exchanges at once; one by one", len(wanted), exc_info=True
        )
        written = [
            _write_alone(exchanges[position], texts[row], matrix[row : row + 1], embedder)
            for row, position in enumerate(wanted)
        ]
    for position, chunk in zip(wanted, written, strict=True):
        found[position] = chunk
    return found


def _write_alone(
    exchange: Exchange, text: str, matrix: np.ndarray, embedder: Embedder
) -> Chunk | None:
    try:
        return _write_memories([exchange], [text], matrix, embedder)[0]
    except Exception:
        log.warning(
            "could not remember an exchange of conversation %s",
            exchange.conversation_id,
            exc_info=True,
        )
        return None


def _write_memories(
    exchanges: Sequence[Exchange], texts: Sequence[str], matrix: np.ndarray, embedder: Embedder
) -> list[Chunk]:
    rows_of: dict[str, list[int]] = {}
    for row, item in enumerate(exchanges):
        rows_of.setdefault(user_scope(item.user_id), []).append(row)
    # Made before the transaction: every writer of the database waits while it is open.
    new = [
        Chunk(
            owner_id=item.user_id,
            scope=user_scope(item.user_id),
            kind=Chunk.Kind.MEMORY,
            conversation_id=item.conversation_id,
            label=item.conversation_title[:200],
            text=text,
            vector=vectors.vector_bytes(vector),
        )
        for item, text, vector in zip(exchanges, texts, matrix, strict=True)
    ]
    with transaction.atomic():
        lock_scopes(rows_of, embedder=embedder.name, dim=matrix.shape[1])
        chunks = statements.insert_all(new)
        advance(rows_of)
    return chunks


def remove_document(*, document: Document) -> None:
    """Delete a document with its chunks; searches stop finding them at once (see `index`)."""
    with transaction.atomic():
        removed, _ = Chunk.objects.filter(document=document).delete()
        document.delete()
        _count_removed(document.scope, removed)


def remove_memories(*, user_id: int, conversation_id: int | None = None) -> int:
    """Forget a user's remembered exchanges (of one conversation, or all); returns how many."""
    scope = user_scope(user_id)
    with transaction.atomic():
        memories = Chunk.objects.filter(owner_id=user_id, kind=Chunk.Kind.MEMORY, scope=scope)
        if conversation_id is not None:
            memories = memories.filter(conversation_id=conversation_id)
        removed, _ = memories.delete()
        _count_removed(scope, removed)
    return removed


def remove_scope_of(*, user_id: int) -> int:
    """Delete the user's private documents and memories, the whole of their scope with its
    state, and this machine's copies of their vectors; returns how many chunks went. Their
    shared documents are the shop's and stay."""
    scope = user_scope(user_id)
    with transaction.atomic():
        removed, _ = Chunk.objects.filter(scope=scope).delete()
        # Documents still processing have no chunks yet; their ingestion finds them gone.
        Document.objects.filter(owner_id=user_id, shared=False).delete()
        IndexState.objects.filter(scope=scope).delete()
        # After the commit of the caller's transaction too (an erasure spans apps): a worker
        # could otherwise write a snapshot from the rows still visible to it.
        transaction.on_commit(lambda: index.discard(scope), robust=True)
    return removed


def reembed_scope(
    scope: str, *, embedder: Embedder, progress: Callable[[int], object] | None = None
) -> int:
    """Embed every chunk of the scope again with ``embedder`` (after `EMBEDDER` changed).

    Vectors are rewritten batch by batch; the scope's state switches to the new embedder, as a
    new generation, only once all of them are, so searches refuse the mixed state meanwhile.
    """
    ids = list(Chunk.objects.filter(scope=scope).order_by("id").values_list("id", flat=True))
    dim = embedder.dim
    for begin in range(0, len(ids), _REEMBED_BATCH):
        batch = list(Chunk.objects.filter(id__in=ids[begin : begin + _REEMBED_BATCH]))
        matrix = embed(embedder, [chunk.text for chunk in batch])
        dim = matrix.shape[1]
        for chunk, row in zip(batch, matrix, strict=True):
            chunk.vector = vectors.vector_bytes(row)
        Chunk.objects.bulk_update(batch, ["vector"])
        if progress is not None:
            progress(len(batch))
    with transaction.atomic():
        state, _ = IndexState.objects.select_for_update().get_or_create(
            scope=scope, defaults={"embedder": embedder.name, "dim": dim or 0}
        )
        state.embedder, state.dim, state.stamp = embedder.name, dim or 0, uuid.uuid4().hex
        state.save(update_fields=["embedder", "dim", "stamp", "updated_at"])
    return len(ids)


def _clip(text: str) -> str:
    text = text.strip()
    if len(text) <= MEMORY_PART_CHARS:
        return text
    return text[:MEMORY_PART_CHARS].rsplit(None, 1)[0] + " …"
