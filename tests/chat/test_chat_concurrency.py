"""Fifty simultaneous chats from a user who can afford ten: exactly ten answers."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connections
from django.db.models import Sum

from accounts import services as accounts
from billing import services as billing
from billing.models import LedgerEntry, Wallet
from chat.models import Message
from tests.conftest import client_for

CHATS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_chats_with_tokens_for_ten_give_ten_answers_and_forty_402s(
    settings: Any,
) -> None:
    settings.THROTTLE_CHAT = "1000/min"  # the ledger, not the throttle, is under test
    user, _ = accounts.user_register(username="burst", password="s3cret-pass-word")
    billing.charge(user=user, amount=3000)  # 1000 left: ten chats
    # Tokens made first: a thread waiting at the barrier holds no database connection.
    clients = [client_for(user) for _ in range(CHATS)]
    start = threading.Barrier(CHATS)
    statuses: list[int | str] = []
    lock = threading.Lock()

    def one_chat(n: int) -> None:
        api = clients[n]
        start.wait()
        try:
            status: int | str = api.post(
                "/api/chat/", {"message": f"question {n}"}, format="json"
            ).status_code
        except Exception as exc:  # noqa: BLE001 - any error is the failure we look for
            status = f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one_chat, args=(n,)) for n in range(CHATS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert Counter(statuses) == {200: 10, 402: 40}
    assert Wallet.objects.get(pk=user.pk).balance == 0
    total = LedgerEntry.objects.filter(wallet_id=user.pk).aggregate(total=Sum("delta"))["total"]
    assert total == 0
    assert Message.objects.filter(role="assistant", status="ok").count() == 10
