"""`BackgroundBackend`: django-tasks' immediate backend, run on a worker thread of this process.

Work that must not hold up a response (remembering a chat exchange) goes here when no task
queue is configured: each process runs it on one daemon thread, in order, right after the
request that enqueued it. With `TASKS_BACKEND` set to a real queue (the database backend) that
queue carries this work too, and this module is not used.

Queued work is lost if the process is killed before it runs (a clean shutdown drains it), so
only work that is safe to lose belongs here: a missing memory is not a wrong balance. The queue
is bounded: past `MAX_BACKLOG` waiting tasks, `enqueue` runs the task itself, so a server that
cannot keep up slows its requests down instead of growing a backlog without end.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import TaskResult

log = logging.getLogger(__name__)

IDLE_CLOSE_S = 1.0  # a worker idle this long closes its database connection
MAX_BACKLOG = 1000


class _Worker:
    """One daemon thread draining a queue of jobs, restarted after a fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def backlog(self) -> int:
        return self._pending

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._jobs, self._pending, self._pid = queue.SimpleQueue(), 0, os.getpid()
                self._thread = threading.Thread(
                    target=self._run, args=(self._jobs,), name="tally-tasks", daemon=True
                )
                self._thread.start()
            self._pending += 1
            self._jobs.put(job)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted job has run; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def quiesce(self, timeout: float | None = None) -> bool:
        """Drain, then have the worker close its connections now rather than when next idle."""
        with self._lock:
            thread = self._thread
            running = thread is not None and thread.is_alive() and self._pid == os.getpid()
        if running:
            self.submit(connections.close_all)
        return self.drain(timeout)

    def _run(self, jobs: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            try:
                job = jobs.get(timeout=IDLE_CLOSE_S)
            except queue.Empty:
                connections.close_all()  # this thread's connections only
                job = jobs.get()
            try:
                job()
            except Exception:  # noqa: BLE001 - one job's failure must not stop the others
                log.exception("background job failed")
                connections.close_all()  # it may have left a broken connection behind
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


_worker = _Worker()
atexit.register(_worker.drain, timeout=10.0)


def drain(timeout: float | None = None) -> bool:
    """Wait for this process's queued background tasks (tests, shutdown)."""
    return _worker.drain(timeout)


def quiesce(timeout: float | None = None) -> bool:
    """Drain, and close the worker's database connections before returning (tests).

    Without this the worker closes them on its own clock, `IDLE_CLOSE_S` after its last job,
    which hands a SQLite connection to the idle pool in the middle of whatever runs then.
    """
    return _worker.quiesce(timeout)


class BackgroundBackend(ImmediateBackend):
    """Runs each task on this process's background thread instead of inside `enqueue`.

    Results are not stored anywhere (`supports_get_result` is False): a failure is logged and
    sent with django-tasks' `task_finished` signal, like the immediate backend's.
    """

    def _execute_task(self, task_result: TaskResult[Any]) -> None:
        # The immediate backend's `enqueue` builds the result and calls this: the run (and so
        # its `enqueued_at` and `task_enqueued` signal) moves to the worker thread.
        run = super()._execute_task
        if _worker.backlog >= MAX_BACKLOG:
            log.warning("background queue full (%d tasks): running inline", MAX_BACKLOG)
            run(task_result)
        else:
            _worker.submit(lambda: run(task_result))
