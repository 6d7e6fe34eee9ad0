"""`core.sqlite`: write transactions queue on a lock file, so waiting writers get in as soon
as the holder commits or rolls back, and give up with "database is locked" after the timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction

from billing.models import Wallet

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own lock"),
]


def _connection(timeout: float) -> Any:
    """A second connection to the same database, as another thread or process would have."""
    other = connections.create_connection("default")
    other.settings_dict = {
        **other.settings_dict,
        "OPTIONS": {**other.settings_dict["OPTIONS"], "timeout": timeout},
    }
    return other


def _begin(other: Any) -> None:
    other.ensure_connection()
    other.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def test_a_second_writer_waits_for_the_first_to_commit_then_goes_in() -> None:
    order: list[str] = []
    holding, done = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic():
            Wallet.objects.all().update(balance=0)
            holding.set()
            done.wait(timeout=5)
            order.append("first commits")
        connections.close_all()

    def second() -> None:
        holding.wait(timeout=5)
        with transaction.atomic():
            order.append("second begins")
        connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    holding.wait(timeout=5)
    threads[1].join(timeout=0.3)  # the second writer is stuck behind the first
    assert order == []
    done.set()
    for thread in threads:
        thread.join(timeout=10)

    assert order == ["first commits", "second begins"]


def test_a_writer_gives_up_after_the_timeout_with_database_is_locked() -> None:
    failures: list[Exception] = []

    with transaction.atomic():

        def try_to_write() -> None:
            impatient = _connection(timeout=0.2)
            try:
                _begin(impatient)
            except OperationalError as exc:
                failures.append(exc)
            finally:
                impatient.close()

        thread = threading.Thread(target=try_to_write)
        thread.start()
        thread.join(timeout=10)

    assert [str(exc) for exc in failures] == [
        "database is locked (waited for this process's writer)"
    ]


def test_a_rolled_back_transaction_lets_the_next_writer_in() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        Wallet.objects.all().update(balance=0)
        raise RuntimeError("abort")
    results: list[str] = []

    def write() -> None:
        impatient = _connection(timeout=0.2)
        try:
            _begin(impatient)
            impatient.rollback()
            results.append("in")
        finally:
            impatient.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=10)

    assert results == ["in"]


def test_writers_of_other_processes_are_waited_for_too() -> None:
    name = os.path.abspath(connection.settings_dict["NAME"])
    holder = subprocess.Popen(  # noqa: S603 - another process in the middle of a transaction
        [sys.executable, "-c", HOLD_LOCK, f"{name}.writer"], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        impatient = _connection(timeout=0.2)
        with pytest.raises(OperationalError, match=r"database is locked \(waited for a writer\)"):
            _begin(impatient)
        impatient.close()
    finally:
        holder.kill()
        holder.wait()
    patient = _connection(timeout=5)  # the kernel dropped the dead process's lock
    _begin(patient)
    patient.rollback()
    patient.close()


HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""
