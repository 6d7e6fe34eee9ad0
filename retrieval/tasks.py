"""Background work through Django's tasks API (`django-tasks` on Django 5.2, `django.tasks`
from Django 6): indexing an uploaded document. (Remembering a chat exchange is the chat app's
task, `chat.tasks.remember_exchange`.)

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
