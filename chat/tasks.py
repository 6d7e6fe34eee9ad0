"""Work a chat turn leaves for after its response: remembering the exchange.

With no task queue configured, exchanges wait in this process and the "background" alias (a
thread of the server, `core.tasks`) remembers them in batches: whatever finished while the
previous batch was written goes in the next, as one embedding call, one transaction and one
index update per user. With a queue (`TASKS_BACKEND`), each exchange is its own task. Either
way the chat's response never waits for the embedding, the write or the index update.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import F
from django_tasks import task

from chat.models import Conversation, Message
from retrieval import services as retrieval
from retrieval.indexing import Exchange

log = logging.getLogger(__name__)

# Exchanges waiting in this process; past this many, a request remembers them itself rather
# than let the list grow while the background thread falls behind.
MAX_WAITING = 1000


@task()
def remember_exchange(question_id: int, answer_id: int) -> int | None:
    """Index a finished exchange as one of its user's memories; returns the memory's id.

    Arguments are message ids, so any backend can carry them; an exchange deleted in the
    meantime (its conversation was) is skipped.
    """
    return remember_exchanges([(question_id, answer_id)])[0]


def remember_exchanges(pairs: list[tuple[int, int]]) -> list[int | None]:
    """Remember (question id, answer id) exchanges in one batch; the memories' ids, in order
    (None for an exchange deleted meanwhile)."""
    rows = _messages([message_id for pair in pairs for message_id in pair])
    found = [(rows.get(question_id), rows.get(answer_id)) for question_id, answer_id in pairs]
    complete = [(question, answer) for question, answer in found if question and answer]
    chunks = retrieval.remember_all(
        [
            Exchange(
                user_id=question.user_id,
                conversation_id=question.conversation_id,
                question=question.content,
                answer=answer.content,
                conversation_title=question.title,
            )
            for question, answer in complete
        ]
    )
    _forget_deleted({question.conversation_id: question.user_id for question, _ in complete})
    memory_ids = iter([chunk.pk if chunk is not None else None for chunk in chunks])
    return [next(memory_ids) if question and answer else None for question, answer in found]


def _messages(ids: Sequence[int]) -> dict[int, Any]:
    """The messages that still exist, by id, as rows of their text with their conversation's
    user and title (``content``, ``conversation_id``, ``user_id``, ``title``): one query."""
    rows = (
        Message.objects.filter(pk__in=ids)
        .annotate(user_id=F("conversation__user_id"), title=F("conversation__title"))
        .values_list("id", "content", "conversation_id", "user_id", "title", named=True)
    )
    return {row.id: row for row in rows}


def _forget_deleted(users_of: dict[int, int]) -> None:
    """A conversation deleted while its exchanges were being remembered took its memories
    with it before theirs were written: forget those now. ``users_of`` maps the batch's
    conversations to their users."""
    if not users_of:
        return
    still_there = set(Conversation.objects.filter(pk__in=users_of).values_list("id", flat=True))
    for conversation_id in users_of.keys() - still_there:
        retrieval.forget(user_id=users_of[conversation_id], conversation_id=conversation_id)


class _Waiting:
    """Exchanges waiting for this process's background thread, and whether a job that will
    take them is queued."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pairs: list[tuple[int, int]] = []
        self.queued = False
        self.pid = os.getpid()

    def add(self, pair: tuple[int, int]) -> bool:
        """Keep ``pair``; whether the caller must queue a job to take it."""
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's job is not queued here
                self.pairs, self.queued, self.pid = [], False, os.getpid()
            self.pairs.append(pair)
            if self.queued:
                return False
            self.queued = True
            return True

    def take(self) -> list[tuple[int, int]]:
        with self.lock:
            pairs, self.pairs, self.queued = self.pairs, [], False
            return pairs

    def unqueue(self) -> None:
        """No job is coming after all: the next exchange queues one."""
        with self.lock:
            self.queued = False

    def overfull(self) -> bool:
        return len(self.pairs) >= MAX_WAITING


_waiting = _Waiting()


@task()
def remember_waiting() -> int:
    """Remember every exchange waiting in this process; returns how many there were."""
    pairs = _waiting.take()
    if pairs:
        remember_exchanges(pairs)
    return len(pairs)


def remember_later(*, question_id: int, answer_id: int) -> None:
    """Have the exchange remembered after the response. Never raises: a chat already answered
    must not fail."""
    try:
        if "background" not in settings.TASKS:
            remember_exchange.using(backend="default").enqueue(
                question_id=question_id, answer_id=answer_id
            )
            return
        if _waiting.add((question_id, answer_id)):
            try:
                remember_waiting.using(backend="background").enqueue()
            except BaseException:
                _waiting.unqueue()
                raise
        elif _waiting.overfull():
            remember_waiting.call()  # the thread fell behind: this request does a batch
    except Exception:
        log.exception("could not remember exchange %s/%s", question_id, answer_id)
