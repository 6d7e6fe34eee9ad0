"""Django's SQLite backend with a prompt, fair-minded queue for writers.

SQLite lets one writer in at a time. A connection that finds the database locked sleeps in
SQLite's busy handler and tries again after 1, 2, 5, 10 … 100 ms, so under load a waiting
writer keeps sleeping long after the lock came free, and the unlucky ones starve: with two
server workers a chat's p50 was ~100 ms and its p99 seconds. Here each transaction first takes
an exclusive lock on a file next to the database (`<name>.writer`), checked every half a
millisecond, and holds it until COMMIT or ROLLBACK; `BEGIN IMMEDIATE` then finds SQLite free.
Writers of every process on the machine share that lock (a crashed process's lock is released
by the kernel); statements outside a transaction still queue in SQLite's own handler.

Closed connections stay open for the next one (`config.sqlite.idle`).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

from config.sqlite.creation import DatabaseCreation
from config.sqlite.idle import Idle, idle_for

POLL_S = 0.0005


class _WriterLock:
    """One process-wide lock per database file: a thread lock plus an `flock` on its file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's writer)")
        try:
            if self._fd is None or self._pid != os.getpid():
                self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OperationalError("database is locked (waited for a writer)") from None
                    time.sleep(POLL_S)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_locks: dict[str, _WriterLock] = {}
_locks_guard = threading.Lock()


def _writer_lock(name: str) -> _WriterLock:
    path = os.path.abspath(name) + ".writer"
    with _locks_guard:
        return _locks.setdefault(path, _WriterLock(path))


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer: _WriterLock | None = None
        self._opened = ""
        self._cursors: weakref.WeakSet[Any] = weakref.WeakSet()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self._cursors = weakref.WeakSet()  # this connection's
        if self.is_in_memory_db():
            return super().get_new_connection(conn_params)
        self._opened = repr((sorted(conn_params.items()), self.init_commands))  # type: ignore[attr-defined]
        conn = self._idle().take()
        if conn is None:
            return super().get_new_connection(conn_params)
        conn.execute("PRAGMA foreign_keys = ON")  # as a new one is; loaddata turns it off
        return conn

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = super().create_cursor(name)
        self._cursors.add(cursor)
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        if self.is_in_memory_db():
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        lock = _writer_lock(str(self.settings_dict["NAME"]))
        lock.acquire(timeout=float(self.settings_dict["OPTIONS"].get("timeout", 5.0)))
        self._writer = lock
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_writer()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _close(self) -> Any:
        try:
            if self._reusable():
                # A half-read SELECT would keep its snapshot, and its thread could go on
                # reading while the next one uses the connection: closing ends it, as closing
                # the connection would have.
                for cursor in list(self._cursors):
                    cursor.close()
                if self._idle().give(self.connection):
                    return None
            return super()._close()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _idle(self) -> Idle:
        return idle_for(str(self.settings_dict["NAME"]), self._opened)

    def _reusable(self) -> bool:
        """Closed cleanly: outside any transaction, and not dropped by Django after an error
        (a failed rollback closes the connection on purpose)."""
        return (
            self.connection is not None
            and not self.is_in_memory_db()
            and not self.in_atomic_block
            and not self.connection.in_transaction
            and not self.errors_occurred
        )

    def _release_writer(self) -> None:
        lock, self._writer = self._writer, None
        if lock is not None:
            lock.release()
