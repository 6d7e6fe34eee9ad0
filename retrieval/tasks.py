"""Background work through Django's tasks API (`django-tasks` on Django 5.2, `django.tasks`
from Django 6): indexing an uploaded document and remembering a chat exchange.

The immediate backend (the default) runs them inline; the database backend hands them to
`manage.py db_worker`. Arguments are plain ids and strings, so any backend can carry them.
"""

from __future__ import annotations

from django_tasks import task

from retrieval import indexing


@task()
def ingest_document(document_id: int) -> str:
    """Chunk, embed and index an uploaded document; returns its final status."""
    document = indexing.index_document(document_id=document_id)
    return document.status if document is not None else "deleted"


@task()
def remember_exchange(
    user_id: int, conversation_id: int, question: str, answer: str, conversation_title: str = ""
) -> int | None:
    """Embed and index one finished chat exchange for its user; returns the memory's id.

    A failure (say, the embedding vendor is down) fails this task only: every backend records
    and logs it, and the chat that enqueued it has already answered.
    """
    chunk = indexing.index_memory(
        user_id=user_id,
        conversation_id=conversation_id,
        question=question,
        answer=answer,
        conversation_title=conversation_title,
    )
    return chunk.pk if chunk is not None else None
