"""Prices per model (`CHAT_PRICES`): what a chat costs, what a 402 asks for, what the providers
list shows, and what the ledger and the request log record, exact under concurrency."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from accounts import services as accounts
from accounts.models import User
from billing import services as billing
from billing.models import LedgerEntry
from billing.selectors import balance_of
from chat.models import RequestLog
from config.settings import prices
from providers import checks
from tests.conftest import client_for
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced(settings: Any, openai_model: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Local chats at CHAT_COST (100); `openai/gpt-fake` at 300."""
    settings.LLM_PROVIDER = "local"
    settings.CHAT_COST = 100
    settings.CHAT_PRICES = {"openai/gpt-fake": 300}
    yield openai_model


def ask(user: User, **body: Any) -> Any:
    return client_for(user).post("/api/chat/", {"message": "Hello", **body}, format="json")


def entries(user: User) -> list[tuple[int, str, str]]:
    rows = LedgerEntry.objects.filter(wallet_id=user.pk).exclude(kind="signup_grant")
    return list(rows.order_by("id").values_list("delta", "kind", "model"))


def test_each_model_is_charged_its_price_and_the_ledger_says_which(
    priced: FakeOpenAI, user: User
) -> None:
    local, vendor = ask(user), ask(user, provider="openai")

    assert (local.json()["tokens_charged"], vendor.json()["tokens_charged"]) == (100, 300)
    assert vendor.json()["tokens_remaining"] == balance_of(user=user) == 4000 - 400
    assert entries(user) == [
        (-100, "chat_charge", "local/tally-local-1"),
        (-300, "chat_charge", "openai/gpt-fake"),
    ]
    logs = RequestLog.objects.order_by("id").values_list("model", "tokens_charged")
    assert list(logs) == [("tally-local-1", 100), ("gpt-fake", 300)]


def test_a_failed_chat_refunds_its_models_price(priced: FakeOpenAI, user: User) -> None:
    priced.enqueue(Reply.failure(500))

    response = ask(user, provider="openai")

    assert response.status_code == 502
    assert entries(user) == [
        (-300, "chat_charge", "openai/gpt-fake"),
        (300, "refund", "openai/gpt-fake"),
    ]


def test_a_402_asks_for_the_price_of_the_model_asked_for(priced: FakeOpenAI, user: User) -> None:
    billing.charge(user=user, amount=3800)

    refused, cheaper = ask(user, provider="openai"), ask(user)

    assert refused.status_code == 402
    assert (refused.json()["required"], refused.json()["tokens"]) == (300, 200)
    assert cheaper.status_code == 200


def test_the_providers_list_shows_each_models_price(priced: FakeOpenAI, user: User) -> None:
    listed = client_for(user).get("/api/providers/").json()["providers"]

    assert {p["name"]: p["prices"] for p in listed} == {
        "local": {"tally-local-1": 100},
        "openai": {"gpt-fake": 300},
    }


def test_a_price_for_a_model_no_one_may_ask_for_is_a_warning(
    priced: FakeOpenAI, settings: Any
) -> None:
    settings.CHAT_PRICES = {"openai/gpt-fake": 300, "openai/gpt-typo": 5}

    warnings = [m for m in checks.check_providers() if m.id == "providers.W002"]

    assert [m.msg for m in warnings] == [
        "CHAT_PRICES prices 'openai/gpt-typo', which is not an allowed model here."
    ]


@pytest.mark.parametrize("value", ["gpt-4o=300", "openai/gpt-4o=cheap", "openai/gpt-4o=-1"])
def test_a_malformed_price_list_stops_the_server(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "CHAT_PRICES_TEST", value)

    with pytest.raises(ImproperlyConfigured):
        prices("CHAT_PRICES_TEST")


def test_prices_are_read_from_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "CHAT_PRICES_TEST", " openai/gpt-4o=300, gemini/g-2=0 ,")

    assert prices("CHAT_PRICES_TEST") == {"openai/gpt-4o": 300, "gemini/g-2": 0}


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_chats_at_300_with_3000_left_charge_exactly_ten(
    priced: FakeOpenAI, settings: Any
) -> None:
    settings.THROTTLE_CHAT = "1000/min"
    user, _ = accounts.user_register(username="pricey", password="s3cret-pass-word")
    billing.charge(user=user, amount=1000)  # 3000 left: ten chats at 300
    clients = [client_for(user) for _ in range(50)]
    start = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def one_chat(n: int) -> None:
        start.wait()
        try:
            status = (
                clients[n]
                .post("/api/chat/", {"message": f"q {n}", "provider": "openai"}, format="json")
                .status_code
            )
        finally:
            connections.close_all()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one_chat, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert Counter(statuses) == {200: 10, 402: 40}
    assert balance_of(user=user) == 0
    assert Counter(entries(user)) == {
        (-1000, "chat_charge", ""): 1,
        (-300, "chat_charge", "openai/gpt-fake"): 10,
    }
