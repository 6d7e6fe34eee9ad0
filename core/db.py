"""Database connections: given back while a request waits on something else, and the pools'
dead ones replaced at once when the database is back from an outage."""

from __future__ import annotations

import logging
import threading
import time

from django.db import connections

log = logging.getLogger(__name__)

_watching = threading.Lock()


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


def recover_when_back(give_up_s: float = 300.0) -> None:
    """After the database was found unreachable: once it accepts a new connection again,
    check every idle connection of this process's pools at once, replacing the dead ones.

    After a restart every idle connection of a pool is dead. Checked as they leave the pool,
    psycopg's pool would try them one checkout at a time, sleeping 1, 2, 4 s between failures,
    so requests would wait out `DB_POOL_TIMEOUT_S` for seconds after the database came back;
    unchecked, each would fail one request. Here the first failure is enough: one thread per
    process waits until the database accepts a connection (checking while it is still away
    would only send the replacements into the pool's reconnection backoff) and then checks
    every idle connection, so the next requests get live ones. Nothing to do without a pool.
    """
    if not _watching.acquire(blocking=False):
        return  # already waiting
    try:
        threading.Thread(
            target=_check_pools_when_back, args=(give_up_s,), name="db-recovery", daemon=True
        ).start()
    except BaseException:
        _watching.release()
        raise


def _check_pools_when_back(give_up_s: float) -> None:
    try:
        pools = [p for alias in connections if (p := getattr(connections[alias], "pool", None))]
        deadline = time.monotonic() + give_up_s
        while pools and time.monotonic() < deadline:
            try:
                probe = pools[0].connection_class.connect(
                    pools[0].conninfo, **{**pools[0].kwargs, "connect_timeout": 2}
                )
            except Exception:  # noqa: BLE001 - still away
                time.sleep(0.2)
                continue
            probe.close()
            for pool in pools:
                pool.check()
            log.info("database back: pooled connections checked")
            return
    finally:
        _watching.release()
