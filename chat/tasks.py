"""Work a chat turn leaves for after its response: remembering the exchange.

With no task queue configured, exchanges wait in this process and the "background" alias (a
thread of the server, `core.tasks`) remembers them in batches: whatever finished while the
previous batch was written goes in the next, as one embedding call, one transaction and one
index update per user. With a queue (`TASKS_BACKEND`), each exchange is its own task. Either
way the chat's response never waits for the embedding, the write or the index update.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings
from django_tasks import task

from chat.models import Conversation, Message
from core import statements
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


class _Stored(NamedTuple):
    """A message as an exchange is remembered from: its text, with its conversation's."""

    id: int
    content: str
    conversation_id: int
    user_id: int
    title: str


def _messages(ids: Sequence[int]) -> dict[int, _Stored]:
    """The messages by id, with their conversations (those that still exist): one query,
    written out (see `core.statements`)."""
    if not ids:
        return {}
    sql = f"{_message_select(statements.db().vendor)}({statements.placeholders(len(ids))})"
    return {row[0]: _Stored._make(row) for row in statements.fetch(sql, ids)}


@functools.cache
def _message_select(vendor: str) -> str:
    """`SELECT` of `_Stored`'s fields by message id, up to the ids' ``IN`` (``vendor`` keys the
    cache, since quoting is the backend's)."""
    message, conversation = (
        functools.partial(statements.column, model) for model in (Message, Conversation)
    )
    joined = f"{message('conversation_id')} = {conversation('id')}"
    return (
        f"SELECT {message('id')}, {message('content')}, {message('conversation_id')}, "  # noqa: S608
        f"{conversation('user_id')}, {conversation('title')} FROM {statements.table(Message)} "
        f"JOIN {statements.table(Conversation)} ON {joined} WHERE {message('id')} IN "
    )


def _forget_deleted(users_of: dict[int, int]) -> None:
    """A conversation deleted while its exchanges were being remembered took its memories
    with it before theirs were written: forget those now. ``users_of`` maps the batch's
    conversations to their users."""
    if not users_of:
        return
    table, id_ = statements.table(Conversation), statements.column(Conversation, "id")
    sql = f"SELECT {id_} FROM {table} WHERE {id_} IN ({statements.placeholders(len(users_of))})"  # noqa: S608
    still_there = {row[0] for row in statements.fetch(sql, list(users_of))}
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
