"""Remembering chats after their responses: with no task queue, finished exchanges wait in the
process for one background job, which remembers all of them in a batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tasks import task_backends
from rest_framework.test import APIClient

from accounts.models import User
from chat import tasks
from chat.models import Conversation
from chat.services import conversation_delete
from retrieval import selectors
from retrieval.models import Chunk

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_jobs(settings: Any, tmp_path: Any) -> Iterator[Any]:
    """The "background" alias keeps its jobs instead of running them."""
    settings.DATA_DIR = tmp_path
    settings.TASKS = {
        **settings.TASKS,
        "background": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"},
    }
    tasks._waiting.take()
    yield task_backends["background"]
    tasks._waiting.take()


def _chat(api: APIClient, message: str) -> None:
    assert api.post("/api/chat/", {"message": message}, format="json").status_code == 200


def _memories(user: User) -> int:
    return Chunk.objects.filter(owner=user, kind=Chunk.Kind.MEMORY).count()


def test_exchanges_wait_for_one_job_that_remembers_them_all(
    held_jobs: Any, user: User, user_api: APIClient
) -> None:
    for question in ("Do you deliver to the harbour?", "Is the tiramisu homemade?", "Vouchers?"):
        _chat(user_api, question)

    assert [result.task.name for result in held_jobs.results] == ["remember_waiting"]
    assert _memories(user) == 0  # nothing was written in the requests

    assert tasks.remember_waiting.call() == 3
    assert _memories(user) == 3
    assert selectors.passages_for(user, "harbour delivery")[0].kind == "memory"

    _chat(user_api, "And on Sundays?")  # the batch was taken: the next exchange queues a job
    assert len(held_jobs.results) == 2
    assert tasks.remember_waiting.call() == 1


def test_a_memory_is_of_its_exchange_its_conversation_and_its_user(
    held_jobs: Any, user: User, staff: User, user_api: APIClient, staff_api: APIClient
) -> None:
    _chat(user_api, "Do you deliver to the harbour?")
    _chat(staff_api, "Is the tiramisu homemade?")

    assert tasks.remember_waiting.call() == 2

    for owner in (user, staff):
        conversation = Conversation.objects.get(user=owner)
        question, answer = conversation.messages.order_by("id")
        memory = Chunk.objects.get(kind=Chunk.Kind.MEMORY, conversation_id=conversation.pk)
        assert (memory.owner_id, memory.label) == (owner.pk, conversation.title)
        assert memory.text == f"Q: {question.content}\nA: {answer.content}"


def test_past_the_limit_a_request_remembers_the_waiting_exchanges_itself(
    held_jobs: Any, user: User, user_api: APIClient, monkeypatch: Any
) -> None:
    monkeypatch.setattr(tasks, "MAX_WAITING", 3)
    for number in range(3):
        _chat(user_api, f"Question number {number} about pizza")

    assert _memories(user) == 3
    assert len(held_jobs.results) == 1  # the queued job will find nothing left
    assert tasks.remember_waiting.call() == 0


def test_an_exchange_deleted_before_its_batch_is_skipped(
    held_jobs: Any, user: User, user_api: APIClient
) -> None:
    _chat(user_api, "Do you deliver to the harbour?")
    conversation = user_api.get("/api/conversations/").json()["results"][0]["id"]
    _chat(user_api, "Is the tiramisu homemade?")
    assert user_api.delete(f"/api/conversations/{conversation}/").status_code == 204

    assert tasks.remember_waiting.call() == 2
    assert _memories(user) == 1


def test_a_conversation_deleted_while_its_batch_is_written_keeps_no_memory(
    held_jobs: Any, user: User, user_api: APIClient, monkeypatch: Any
) -> None:
    _chat(user_api, "Do you deliver to the harbour?")
    _chat(user_api, "Is the tiramisu homemade?")
    doomed = Conversation.objects.filter(user=user).order_by("id").first()
    assert doomed is not None
    real_remember_all = tasks.retrieval.remember_all

    def deleted_meanwhile(exchanges: Any) -> Any:
        conversation_delete(conversation=doomed)  # after the batch read its messages
        return real_remember_all(exchanges)

    monkeypatch.setattr(tasks.retrieval, "remember_all", deleted_meanwhile)
    assert tasks.remember_waiting.call() == 2

    assert not Chunk.objects.filter(conversation_id=doomed.pk).exists()
    assert _memories(user) == 1


def test_when_no_job_could_be_queued_the_next_exchange_queues_one() -> None:
    waiting = tasks._Waiting()
    assert waiting.add((1, 2)) is True  # queue a job
    assert waiting.add((3, 4)) is False  # one is queued
    waiting.unqueue()  # queueing it failed after all
    assert waiting.add((5, 6)) is True
    assert waiting.take() == [(1, 2), (3, 4), (5, 6)]
