"""The SQLite backend (`ENGINE: core.sqlite`): Django's own, plus a queue for writers and a
pool of idle connections. The whole backend is this one module.

SQLite lets one writer in at a time. The settings already give Django's backend WAL,
`BEGIN IMMEDIATE` and a busy timeout, so writers wait instead of failing; but a writer that
finds the database locked waits in SQLite's busy handler, which sleeps between tries for
longer and longer (up to 100 ms), so it keeps sleeping after the lock came free and the
unlucky ones wait far longer than the rest. Here each transaction first takes an exclusive
lock on a file next to the database (`<name>.writer`), tried every `POLL_S`, and holds it
until COMMIT or ROLLBACK; `BEGIN IMMEDIATE` then finds SQLite free. Writers of every
process on the machine share that lock (a crashed process's lock is released by the kernel);
statements outside a transaction still queue in SQLite's own handler.

Under ASGI each request runs in a new thread with a new connection, so `CONN_MAX_AGE` cannot
keep one, and opening one means SQLite parsing the schema again and Django registering its
functions. Connections closed cleanly (no transaction, no error, no statement left open) are
kept for the next request, up to `IDLE_CONNECTIONS` per process.

Why it is kept (issue 27, bench/README.md "SQLite backend: Django's own vs core/sqlite"):
measured side by side against `django.db.backends.sqlite3` with the same OPTIONS (two
uvicorn workers on the same data, the two started alternately), neither showed "database is
locked" (50 simultaneous chats, `tests/production/test_load.py`), but Django's own gave a
chat's p99 at 8 clients two to three times this backend's in four pairs of five, and served
the authenticated read with less throughput in all five.

It overrides private methods of Django's SQLite backend (`_start_transaction_under_autocommit`,
`_commit`, `_rollback`, `_close`, and the test database's `_create_test_db` and
`_destroy_test_db`): check them when upgrading Django. `tests/config/test_sqlite_writers.py`
and `test_sqlite_idle.py` hold what they must do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base, creation

POLL_S = 0.0005  # how often a waiting writer tries the lock file
IDLE_CONNECTIONS = 16  # kept per kind of connection and process; more are closed


# --- The writers' queue ---------------------------------------------------------------------------


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


# --- Idle connections ----------------------------------------------------------------------------


class Idle:
    """Idle connections opened alike (the same file, parameters and pragmas)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    def take(self) -> sqlite3.Connection | None:
        with self._lock:
            return self._connections.pop() if self._connections else None

    def give(self, conn: sqlite3.Connection) -> bool:
        with self._lock:
            if len(self._connections) >= IDLE_CONNECTIONS:
                return False
            self._connections.append(conn)
            return True

    def clear(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


# database file -> how its connections were opened -> the idle ones
_idle: dict[str, dict[str, Idle]] = {}
_idle_guard = threading.Lock()
# A forked child's copies of its parent's connections: SQLite must not use them, nor close
# them (closing would touch files and locks the parent still uses), so they are only kept.
_inherited: list[sqlite3.Connection] = []


def idle_for(name: str, opened: str) -> Idle:
    """The idle connections to the file ``name`` opened as ``opened`` says (parameters and
    pragmas: a connection opened otherwise is not the same connection)."""
    with _idle_guard:
        return _idle.setdefault(os.path.abspath(name), {}).setdefault(opened, Idle())


def forget_idle(name: str) -> None:
    """Close the idle connections to the file ``name`` (it is about to be removed or made
    again)."""
    with _idle_guard:
        found = list(_idle.get(os.path.abspath(name), {}).values())
    for idle in found:
        idle.clear()


def _after_fork_in_child() -> None:
    global _idle_guard
    _idle_guard = threading.Lock()  # another thread of the parent may have held it
    for idle in (idle for kinds in _idle.values() for idle in kinds.values()):
        _inherited.extend(idle._connections)
        idle._connections, idle._lock = [], threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- Test databases ------------------------------------------------------------------------------


class DatabaseCreation(creation.DatabaseCreation):
    """Test databases: no idle connection left open on a file that is removed or made again,
    and removed with their writer lock and WAL side files."""

    def _create_test_db(self, verbosity: int, autoclobber: bool, keepdb: bool = False) -> Any:
        name = self._get_test_db_name()  # type: ignore[attr-defined]
        if not self.is_in_memory_db(name):
            forget_idle(name)
        return super()._create_test_db(verbosity, autoclobber, keepdb)  # type: ignore[misc]

    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        if test_database_name and not self.is_in_memory_db(test_database_name):
            forget_idle(test_database_name)
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]
        if test_database_name and not self.is_in_memory_db(test_database_name):
            for suffix in (".writer", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{test_database_name}{suffix}")


# --- The backend ---------------------------------------------------------------------------------


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's SQLite connection, queueing its transactions and reusing closed connections."""

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
