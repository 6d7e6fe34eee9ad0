"""`core.sqlite`'s idle connections: a closed SQLite connection is kept open for the next
thread, which is how ASGI requests (each in a new thread) stop paying to open one; never one
closed inside a transaction or after an error, never with a statement still open, never more
than `IDLE_CONNECTIONS`, and always with foreign keys enforced."""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

import pytest
from django.db import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    connections,
    transaction,
)

from billing.models import LedgerEntry, Wallet
from core import tasks
from core.sqlite import base as idle

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own pool"),
]


def _in_a_thread(work: Any) -> Any:
    """Run ``work()`` on a new thread with its own connection, as a request under ASGI is."""
    result: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    if failed:
        raise failed[0]
    return result[0]


def _raw() -> Any:
    connection.ensure_connection()
    return connection.connection


@pytest.fixture(autouse=True)
def _no_idle_connections() -> None:
    # An earlier test's background worker would otherwise close its connection into the pool
    # on its own idle timer, part way through a test of which connection a thread gets.
    assert tasks.quiesce(timeout=10)
    idle.forget_idle(connection.settings_dict["NAME"])


def test_the_next_thread_gets_the_connection_the_last_one_closed():
    first = _in_a_thread(_raw)
    second = _in_a_thread(_raw)

    assert second is first
    assert _in_a_thread(lambda: connection.cursor().execute("SELECT 1").fetchone()) == (1,)


def test_a_connection_closed_inside_a_transaction_is_not_kept():
    def close_mid_transaction() -> Any:
        with transaction.atomic():
            raw = _raw()
            connection.close()
        return raw

    abandoned = _in_a_thread(close_mid_transaction)

    assert _in_a_thread(_raw) is not abandoned
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        abandoned.execute("SELECT 1")


def test_no_more_than_the_limit_wait(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(idle, "IDLE_CONNECTIONS", 2)
    opened: list[Any] = [connections.create_connection("default") for _ in range(4)]
    raws = []
    for other in opened:
        other.ensure_connection()
        raws.append(other.connection)
    for other in opened:
        other.close()

    kept = [opened[0]._idle().take() for _ in range(3)]
    assert kept[:2] == [raws[1], raws[0]] and kept[2] is None
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        raws[2].execute("SELECT 1")


def test_a_kept_connection_enforces_foreign_keys_again():
    def turn_them_off() -> Any:
        raw = _raw()
        raw.execute("PRAGMA foreign_keys = OFF")
        return raw

    unchecked = _in_a_thread(turn_them_off)

    def orphan_entry() -> str:
        assert _raw() is unchecked
        try:
            with transaction.atomic():
                LedgerEntry.objects.create(
                    wallet_id=999_999, username="nobody", delta=1, balance_after=1, kind="grant"
                )
        except IntegrityError:
            return "refused"
        return "written"

    assert _in_a_thread(orphan_entry) == "refused"


def test_a_half_read_query_is_closed_before_the_connection_is_kept(make_user):
    make_user(), make_user()

    def read_one_row() -> Any:
        cursor = connection.cursor()
        cursor.execute("SELECT user_id FROM billing_wallet")
        cursor.fetchone()  # the second row is still to come: SQLite holds a read snapshot
        return connection.connection, cursor

    raw, cursor = _in_a_thread(read_one_row)
    make_user()  # committed after that snapshot

    def count_and_write() -> int:
        assert _raw() is raw
        with transaction.atomic():  # BEGIN IMMEDIATE: refused on a stale snapshot
            Wallet.objects.update(balance=7)
        return Wallet.objects.count()

    assert _in_a_thread(count_and_write) == 3
    with pytest.raises(ProgrammingError, match="closed cursor"):
        cursor.fetchone()


def test_a_connection_closed_after_an_error_is_not_kept():
    def fail_then_close() -> Any:
        raw = _raw()
        with pytest.raises(OperationalError, match="no such table"):
            connection.cursor().execute("SELECT * FROM no_such_table")
        connection.close()  # as Django does when a rollback fails, before any reset
        return raw

    dropped = _in_a_thread(fail_then_close)

    assert _in_a_thread(_raw) is not dropped


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own():
    other: Any = connections.create_connection("default")
    other.ensure_connection()
    other.close()  # one idle connection in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's idle connection is not for it
        taken = other._idle().take()
        os.write(write, b"none" if taken is None else b"shared")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"none"
    assert other._idle().take() is not None  # still the parent's
