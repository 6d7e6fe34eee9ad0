"""Open SQLite connections that no thread of this process is using, kept for the next one.

Under ASGI Django runs each request in a new thread with a new connection (so `CONN_MAX_AGE`
cannot keep one), and opening one costs ~0.8 ms of CPU: SQLite reads and parses the schema on
its first statement, and Django registers its functions and sets its pragmas. That was a
seventh of an authenticated `GET` served by uvicorn. `config.sqlite`'s connections are taken
from here and given back on close, outside any transaction only.
"""

from __future__ import annotations

import os
import sqlite3
import threading

IDLE_CONNECTIONS = 16  # per database file and process; more are closed


class Idle:
    """Open connections to one database file that no thread of this process is using."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._pid = os.getpid()

    def take(self) -> sqlite3.Connection | None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share its parent's
                self._connections, self._pid = [], os.getpid()
            return self._connections.pop() if self._connections else None

    def give(self, conn: sqlite3.Connection) -> bool:
        with self._lock:
            if self._pid != os.getpid() or len(self._connections) >= IDLE_CONNECTIONS:
                return False
            self._connections.append(conn)
            return True

    def clear(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


_idle: dict[str, Idle] = {}
_idle_guard = threading.Lock()


def idle_for(name: str) -> Idle:
    """The idle connections to the database file ``name``."""
    with _idle_guard:
        return _idle.setdefault(os.path.abspath(name), Idle())


def forget_idle(name: str) -> None:
    """Close the idle connections to ``name`` (its file is about to be removed or made again)."""
    idle_for(name).clear()
