"""Every write of the retrieval app and its rules: who may share, upload, delete, remember."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum

from retrieval import embedders, extraction, index, indexing, tasks
from retrieval.exceptions import DocumentQuotaExceeded, DocumentTooLarge, SharingNotAllowed
from retrieval.models import Chunk, Document, IndexState

log = logging.getLogger(__name__)


def _is_staff(user: AbstractBaseUser) -> bool:
    return bool(getattr(user, "is_staff", False))


def document_upload(
    *,
    owner: AbstractBaseUser,
    data: bytes,
    filename: str,
    title: str = "",
    shared: bool = False,
) -> tuple[Document, bool]:
    """Store an uploaded file's text and index it; returns (document, created).

    The text is extracted here, so a bad file is refused (`UnreadableDocument`) before anything
    is written; chunking, embedding and indexing run as a task. The same bytes uploaded again
    by the same owner return the existing document with ``created=False`` (a failed one is
    retried). Raises `SharingNotAllowed` for non-staff ``shared`` uploads,
    `DocumentTooLarge` past `MAX_UPLOAD_BYTES` (or the extraction limits) and
    `DocumentQuotaExceeded` past the owner's quota (private documents only: the shared
    knowledge base is the shop's, curated by staff, and not one person's storage).
    """
    if shared and not _is_staff(owner):
        raise SharingNotAllowed("Only staff can add documents to the shared knowledge base.")
    limit = settings.MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise DocumentTooLarge(
            f"The file is {len(data)} bytes; the limit is {limit} bytes.", limit=limit
        )
    digest = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(owner_id=owner.pk, sha256=digest).first()
    if existing is not None:
        return _uploaded_again(existing), False
    if not shared:
        _check_quota(owner=owner, size=len(data))  # before the costly extraction
    extracted = extraction.extract(data, filename=filename)
    try:
        with transaction.atomic():
            if not shared:
                # Two uploads of one user at once would both pass the check above: the owner's
                # row lock takes them in turn (SQLite's IMMEDIATE transactions already do).
                list(get_user_model().objects.select_for_update().filter(pk=owner.pk))
                _check_quota(owner=owner, size=len(data))
            document = Document.objects.create(
                owner_id=owner.pk,
                title=_title(title, filename),
                kind=extracted.kind,
                size=len(data),
                sha256=digest,
                shared=shared,
                text=extracted.text,
            )
    except IntegrityError:  # the same file, uploaded twice at the same moment
        return Document.objects.get(owner_id=owner.pk, sha256=digest), False
    tasks.ingest_document.enqueue(document_id=document.pk)
    document.refresh_from_db()
    return document, True


def _check_quota(*, owner: AbstractBaseUser, size: int) -> None:
    held = Document.objects.filter(owner_id=owner.pk, shared=False).aggregate(
        documents=Count("id"), size=Sum("size")
    )
    documents, used = held["documents"], held["size"] or 0
    if documents >= settings.DOCUMENT_QUOTA_DOCUMENTS:
        raise DocumentQuotaExceeded(
            f"You have {documents} documents, the most you may keep; delete one to upload another."
        )
    if used + size > settings.DOCUMENT_QUOTA_BYTES:
        raise DocumentQuotaExceeded(
            f"This file ({size} bytes) would take your documents past your quota of "
            f"{settings.DOCUMENT_QUOTA_BYTES} bytes ({used} used); delete some to make room."
        )


def _uploaded_again(document: Document) -> Document:
    if document.status != Document.Status.FAILED:
        return document
    updated = Document.objects.filter(pk=document.pk, status=Document.Status.FAILED).update(
        status=Document.Status.PROCESSING, error=""
    )
    if updated:
        tasks.ingest_document.enqueue(document_id=document.pk)
    document.refresh_from_db()
    return document


def _title(title: str, filename: str) -> str:
    chosen = " ".join(title.split()) or PurePath(filename).stem.strip() or "Untitled"
    return chosen[:255]


def document_delete(*, document: Document, by: AbstractBaseUser) -> None:
    """Delete a document, its chunks and their vectors. Shared documents need staff.

    Whether ``by`` may see a private document is the selector's business (others get a 404).
    """
    if document.shared and not _is_staff(by):
        raise SharingNotAllowed("Only staff can delete documents of the shared knowledge base.")
    indexing.remove_document(document=document)


def remember(
    *,
    user_id: int,
    conversation_id: int,
    question: str,
    answer: str,
    conversation_title: str = "",
) -> Chunk | None:
    """Index a finished chat exchange as one of the user's memories; only they recall it.

    Embeds (possibly a network call) and writes; the chat app runs it as a background task.
    """
    return indexing.index_memory(
        user_id=user_id,
        conversation_id=conversation_id,
        question=question,
        answer=answer,
        conversation_title=conversation_title,
    )


def remember_all(exchanges: Sequence[indexing.Exchange]) -> list[Chunk | None]:
    """`remember` for many exchanges at once: one embedding call, one transaction and one
    index update per user; a memory per exchange, in order (None for an empty question)."""
    return indexing.index_memories(exchanges)


def forget(*, user_id: int, conversation_id: int | None = None) -> int:
    """Drop the user's memories of one conversation (or all of them); returns how many."""
    return indexing.remove_memories(user_id=user_id, conversation_id=conversation_id)


def user_erase(*, user: AbstractBaseUser) -> int:
    """Erase what the user keeps here privately: their own documents and their memories, with
    every vector of theirs; returns how many chunks went. Documents they shared as staff stay
    in the shop's knowledge base."""
    return indexing.remove_scope_of(user_id=user.pk)


@dataclass(frozen=True)
class RebuiltScope:
    scope: str
    vectors: int
    kind: str
    reembedded: bool


def rebuild_indexes(
    *, reembed: bool = False, progress: Callable[[int], object] | None = None
) -> list[RebuiltScope]:
    """Rebuild every scope's index from the database (a snapshot for large scopes).

    Scopes built by another embedder than `EMBEDDER` (or all, with ``reembed``) are embedded
    again first; the others reuse their stored vectors. ``progress`` is told how many chunks
    each step covered.
    """
    embedder = embedders.current()
    counts = dict(
        Chunk.objects.order_by().values("scope").annotate(n=Count("id")).values_list("scope", "n")
    )
    states = {state.scope: state for state in IndexState.objects.all()}
    rebuilt = []
    for scope in sorted(set(counts) | set(states)):
        state = states.get(scope)
        stale = state is not None and (
            state.embedder != embedder.name
            or (embedder.dim is not None and state.dim != embedder.dim)
        )
        again = bool(counts.get(scope)) and (reembed or stale)
        if again:
            indexing.reembed_scope(scope, embedder=embedder, progress=progress)
        fresh = index.rebuild(scope)
        count = fresh.ntotal if fresh is not None else 0
        if progress is not None and not again:
            progress(count)
        snapshot = fresh.snapshot if fresh is not None else None
        kind = f"{snapshot.kind} snapshot" if snapshot is not None else "in memory"
        rebuilt.append(RebuiltScope(scope, count, kind, again))
    return rebuilt
