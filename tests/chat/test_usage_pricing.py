"""`CHAT_PRICING=usage`: a chat holds the most it can cost and settles to the model's usage in
the transaction that stores its answer; a failure gives the whole hold back; exact under
concurrency (a hold never takes a wallet below zero, no settle is lost)."""

from __future__ import annotations

import math
import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.db.models import Sum

from accounts import services as accounts
from accounts.models import User
from billing import services as billing
from billing.models import LedgerEntry
from billing.selectors import balance_of
from chat import pricing
from chat.models import Message, RequestLog
from providers.types import Message as PromptMessage
from providers.types import Prompt
from tests.conftest import client_for
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

RATES = (2.0, 8.0)  # credits per 1,000 prompt and completion tokens


@pytest.fixture
def metered(settings: Any, openai_model: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Usage pricing; `openai/gpt-fake` answers (its usage: 11 prompt, 7 completion tokens
    unless a reply says otherwise) at `RATES`."""
    settings.CHAT_PRICING = "usage"
    settings.CHAT_RATES = {"openai/gpt-fake": RATES}
    settings.LLM_MAX_OUTPUT_TOKENS = 200
    settings.CHAT_CACHE_TTL = 0
    yield openai_model


def entries(user: User) -> list[tuple[str, int]]:
    rows = LedgerEntry.objects.filter(wallet_id=user.pk).exclude(kind="signup_grant")
    return list(rows.order_by("id").values_list("kind", "delta"))


def test_a_chat_holds_then_settles_to_what_the_model_used(metered: FakeOpenAI, user: User) -> None:
    metered.enqueue(Reply.answer("Hi there", usage=(3000, 120)))

    body = client_for(user).post("/api/chat/", {"message": "Hello"}, format="json").json()

    used = math.ceil((3000 * RATES[0] + 120 * RATES[1]) / 1000)  # 6 + 0.96 → 7
    (charge, held), (settle, returned) = entries(user)
    assert (charge, settle) == ("chat_charge", "settle")
    assert held < 0 and returned == -held - used
    assert body["tokens_charged"] == used
    assert body["tokens_remaining"] == balance_of(user=user) == 4000 - used
    assert RequestLog.objects.get().tokens_charged == used
    assert Message.objects.get(role="user").tokens_charged == used


def test_the_hold_covers_every_round_at_the_longest_answer(
    metered: FakeOpenAI, settings: Any
) -> None:
    prompt = Prompt(messages=[PromptMessage("user", "x" * 4000)])  # 1,000 tokens at 4 bytes

    one = pricing.hold("openai", "gpt-fake", prompt, rounds=1)
    three = pricing.hold("openai", "gpt-fake", prompt, rounds=3)

    assert one == math.ceil((1000 * 2 + 200 * 8) / 1000)  # the prompt and 200 output tokens
    grown = [1000 + r * (200 + pricing.TOOL_RESULT_TOKENS) for r in range(3)]
    assert three == sum(math.ceil((p * 2 + 200 * 8) / 1000) for p in grown)


def test_a_model_that_fails_gives_the_whole_hold_back(metered: FakeOpenAI, user: User) -> None:
    metered.enqueue(Reply.failure(500))

    response = client_for(user).post("/api/chat/", {"message": "Hello"}, format="json")

    assert response.status_code == 502
    (charge, held), (refund, returned) = entries(user)
    assert (charge, refund, returned) == ("chat_charge", "refund", -held)
    assert balance_of(user=user) == 4000


def test_a_wallet_short_of_the_hold_is_a_402_asking_for_it(metered: FakeOpenAI, user: User) -> None:
    billing.charge(user=user, amount=3999)

    response = client_for(user).post("/api/chat/", {"message": "Hello"}, format="json")

    assert response.status_code == 402
    assert response.json()["required"] > 1
    assert balance_of(user=user) == 1


def test_a_settle_is_never_more_than_the_hold(metered: FakeOpenAI, user: User) -> None:
    metered.enqueue(Reply.answer("Long", usage=(10_000_000, 10_000)))  # past any hold

    body = client_for(user).post("/api/chat/", {"message": "Hello"}, format="json").json()

    ((kind, held),) = entries(user)
    assert kind == "chat_charge" and body["tokens_charged"] == -held


@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_chats_spend_exactly_their_usage(
    metered: FakeOpenAI, settings: Any
) -> None:
    settings.THROTTLE_CHAT = "1000/min"
    user, _ = accounts.user_register(username="meter", password="s3cret-pass-word")
    billing.charge(user=user, amount=3900)  # 100 left: room for some holds, not all
    clients = [client_for(user) for _ in range(30)]
    start = threading.Barrier(30)
    statuses: list[int] = []
    lock = threading.Lock()

    def one_chat(n: int) -> None:
        start.wait()
        try:
            status = clients[n].post("/api/chat/", {"message": f"q {n}"}, format="json").status_code
        finally:
            connections.close_all()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one_chat, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    answered = Counter(statuses)[200]
    assert answered >= 1 and set(statuses) <= {200, 402}
    each = math.ceil((11 * RATES[0] + 7 * RATES[1]) / 1000)  # the fake's default usage
    assert balance_of(user=user) == 100 - answered * each >= 0
    kinds = Counter(LedgerEntry.objects.filter(wallet_id=user.pk).values_list("kind", flat=True))
    assert kinds["settle"] == answered  # one settle per answer, none lost
    total = LedgerEntry.objects.filter(wallet_id=user.pk).aggregate(total=Sum("delta"))["total"]
    assert total == balance_of(user=user)


def test_rates_are_read_from_pairs_and_bad_ones_stop_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from config.settings import rates

    monkeypatch.setitem(os.environ, "CHAT_RATES_TEST", "openai/gpt-4o=2.5:10, local/x=0:0")
    assert rates("CHAT_RATES_TEST") == {"openai/gpt-4o": (2.5, 10.0), "local/x": (0.0, 0.0)}
    for bad in ("gpt-4o=1:2", "openai/gpt-4o=1", "openai/gpt-4o=-1:2", "openai/gpt-4o=a:b"):
        monkeypatch.setitem(os.environ, "CHAT_RATES_TEST", bad)
        with pytest.raises(ImproperlyConfigured):
            rates("CHAT_RATES_TEST")
