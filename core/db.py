"""Giving database connections back while a request waits on something else."""

from __future__ import annotations

from django.db import connections


def release_connections() -> None:
    """Give back this thread's database connections that hold no transaction.

    A chat waits seconds on the model and needs the database only before and after; holding a
    connection all that time would need one per chat in flight. Closed here, a pooled
    connection goes back to its pool (PostgreSQL, `DB_POOL`) and a SQLite one to the backend's
    idle list (`core.sqlite`); the next query takes one again. A connection inside
    `transaction.atomic` is left alone (the transaction is not ours to end).
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block:
            conn.close()
