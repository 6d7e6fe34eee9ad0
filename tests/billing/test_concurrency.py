"""Sixty simultaneous charges against a wallet that can pay forty: exactly forty succeed.

Runs on the configured database: the file-backed SQLite default under `make test`, PostgreSQL
under `make test-services`.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.db.models import Sum

from accounts import services as accounts
from billing import services as billing
from billing.exceptions import InsufficientTokens
from billing.models import LedgerEntry, Wallet

THREADS = 60


@pytest.mark.django_db(transaction=True)
def test_sixty_threads_charging_a_wallet_of_4000_leave_exactly_40_charges() -> None:
    user, _ = accounts.user_register(username="racer", password="s3cret-pass-word")
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def charge_once() -> None:
        start.wait()
        try:
            billing.charge(user=user, amount=100, reference="race")
            outcome = "charged"
        except InsufficientTokens:
            outcome = "insufficient"
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=charge_once) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert Counter(outcomes) == {"charged": 40, "insufficient": 20}
    assert Wallet.objects.get(pk=user.pk).balance == 0
    entries = LedgerEntry.objects.filter(wallet_id=user.pk)
    assert entries.aggregate(total=Sum("delta"))["total"] == 0
    assert sorted(
        entries.filter(kind="chat_charge").values_list("balance_after", flat=True)
    ) == list(range(0, 4000, 100))


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-specific settings")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
