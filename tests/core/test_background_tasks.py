"""`core.tasks.BackgroundBackend`: tasks run after `enqueue` returns, on one thread, in order."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections
from django_tasks import task
from django_tasks.base import TaskResultStatus

from core import tasks

ran: list[tuple[str, str]] = []
gate = threading.Event()


@task()
def record(label: str) -> None:
    ran.append((label, threading.current_thread().name))


@task()
def explode(label: str) -> None:
    raise RuntimeError(f"{label} failed")


worker_connections: list[Any] = []


@task()
def query() -> None:
    here = connections["default"]  # this thread's own, not the proxy
    here.ensure_connection()
    worker_connections.append(here)


@task()
def wait_for_gate() -> None:
    gate.wait(timeout=10)


class AnyStr(str):
    """Equal to any string containing it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str(self) in other

    __hash__ = str.__hash__


@pytest.fixture(autouse=True)
def _background(settings: Any) -> None:
    settings.TASKS = {**settings.TASKS, "background": {"BACKEND": "core.tasks.BackgroundBackend"}}
    ran.clear()
    gate.clear()


def test_enqueue_returns_before_the_task_runs_and_it_then_runs_on_the_worker_thread() -> None:
    gate.clear()
    wait_for_gate.using(backend="background").enqueue()

    result = record.using(backend="background").enqueue(label="after the gate")

    assert result.status == TaskResultStatus.READY
    assert ran == []  # still queued behind the gate: enqueue did not run it
    gate.set()
    assert tasks.drain(timeout=10)
    assert ran == [("after the gate", "tally-tasks")]


def test_tasks_run_in_the_order_they_were_enqueued() -> None:
    for label in "abcde":
        record.using(backend="background").enqueue(label=label)

    assert tasks.drain(timeout=10)
    assert [label for label, _ in ran] == list("abcde")


def test_a_failing_task_is_logged_and_the_next_ones_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record.using(backend="background").enqueue(label="before")
    explode.using(backend="background").enqueue(label="boom")
    record.using(backend="background").enqueue(label="after")

    assert tasks.drain(timeout=10)
    assert [label for label, _ in ran] == ["before", "after"]
    failures = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert failures == [AnyStr("explode state=FAILED")]


def test_drain_reports_a_timeout_while_work_is_still_queued() -> None:
    wait_for_gate.using(backend="background").enqueue()

    assert tasks.drain(timeout=0.05) is False
    gate.set()
    assert tasks.drain(timeout=10) is True


def test_past_the_backlog_limit_enqueue_runs_the_task_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "MAX_BACKLOG", 1)
    wait_for_gate.using(backend="background").enqueue()  # fills the queue

    record.using(backend="background").enqueue(label="overflow")

    assert ran == [("overflow", threading.current_thread().name)]  # ran at once, right here
    gate.set()
    assert tasks.drain(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_quiesce_returns_once_the_worker_has_closed_its_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "IDLE_CLOSE_S", 60.0)  # the idle timer stays out of the way
    worker_connections.clear()
    query.using(backend="background").enqueue()
    assert tasks.drain(timeout=10)
    (used,) = worker_connections
    assert used.connection is not None  # drain alone leaves it to the idle timer

    assert tasks.quiesce(timeout=10)

    assert used.connection is None
