"""`config.sqlite.idle`: a closed SQLite connection is kept open for the next thread, which
is how ASGI requests (each in a new thread) stop paying to open one; never one closed inside
a transaction, never more than `IDLE_CONNECTIONS`, and always with foreign keys enforced."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction

from billing.models import LedgerEntry
from config.sqlite import idle

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own pool"),
]


def _in_a_thread(work: Any) -> Any:
    """Run ``work()`` on a new thread with its own connection, as a request under ASGI is."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(work())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    return result[0]


def _raw() -> Any:
    connection.ensure_connection()
    return connection.connection


@pytest.fixture(autouse=True)
def _no_idle_connections() -> None:
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
    with pytest.raises(Exception, match="closed"):
        abandoned.execute("SELECT 1")


def test_no_more_than_the_limit_wait(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(idle, "IDLE_CONNECTIONS", 2)
    opened = [connections.create_connection("default") for _ in range(4)]
    raws = []
    for other in opened:
        other.ensure_connection()
        raws.append(other.connection)
    for other in opened:
        other.close()

    kept = [idle.idle_for(connection.settings_dict["NAME"]).take() for _ in range(3)]
    assert kept[:2] == [raws[1], raws[0]] and kept[2] is None
    with pytest.raises(Exception, match="closed"):
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own():
    _in_a_thread(_raw)  # leaves one idle connection in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's idle connection is not for it
        taken = idle.idle_for(connection.settings_dict["NAME"]).take()
        os.write(write, b"none" if taken is None else b"shared")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"none"
