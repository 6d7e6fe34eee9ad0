"""Open SQLite connections that no thread of this process is using, kept for the next one.

Under ASGI Django runs each request in a new thread with a new connection (so `CONN_MAX_AGE`
cannot keep one), and opening one costs ~0.8 ms of CPU: SQLite reads and parses the schema on
its first statement, and Django registers its functions and sets its pragmas. That was a
seventh of an authenticated `GET` served by uvicorn. `config.sqlite` takes its connections
from here and gives them back when closed cleanly (no transaction, no statement left open).
"""

from __future__ import annotations

import os
import sqlite3
import threading

IDLE_CONNECTIONS = 16  # per kind of connection and process; more are closed


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
