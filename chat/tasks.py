"""Work a chat turn leaves for after its response: remembering the exchange.

The task is enqueued on the "background" alias when tasks run inline (a thread of the server
process, `config.tasks`), otherwise on the configured queue, so the chat's response never waits
for the embedding, the write and the index update.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django_tasks import task

from chat.models import Message
from retrieval import services as retrieval

log = logging.getLogger(__name__)


@task()
def remember_exchange(question_id: int, answer_id: int) -> int | None:
    """Index a finished exchange as one of its user's memories; returns the memory's id.

    Arguments are message ids, so any backend can carry them; an exchange deleted in the
    meantime (its conversation was) is skipped.
    """
    rows = {
        row.pk: row
        for row in Message.objects.filter(pk__in=[question_id, answer_id]).select_related(
            "conversation"
        )
    }
    question, answer = rows.get(question_id), rows.get(answer_id)
    if question is None or answer is None:
        return None
    chunk = retrieval.remember(
        user_id=question.conversation.user_id,
        conversation_id=question.conversation_id,
        question=question.content,
        answer=answer.content,
        conversation_title=question.conversation.title,
    )
    return chunk.pk if chunk is not None else None


def remember_later(*, question_id: int, answer_id: int) -> None:
    """Enqueue `remember_exchange`. Never raises: a chat already answered must not fail."""
    alias = "background" if "background" in settings.TASKS else "default"
    try:
        remember_exchange.using(backend=alias).enqueue(question_id=question_id, answer_id=answer_id)
    except Exception:
        log.exception("could not enqueue remembering exchange %s/%s", question_id, answer_id)
