"""`DELETE /api/me/`: a person leaves, and nothing they said, kept or wrote on an order stays;
the ledger stays as accounting records do, anonymised, its balance forfeited."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from billing.models import LedgerEntry
from billing.selectors import balance_of
from chat.models import Conversation, IdempotencyKey, Message, RequestLog
from orders.models import Order, OrderItem
from privacy import services
from retrieval import index, selectors
from retrieval.models import Chunk, Document, user_scope
from tests.conftest import PASSWORD
from tests.privacy.conftest import Person, delete_account
from tests.retrieval.conftest import search

pytestmark = pytest.mark.django_db


def leave(person: Person) -> None:
    response = delete_account(person.api, PASSWORD)
    assert response.status_code == 204, response.content
    person.user.refresh_from_db()


def test_my_conversations_and_messages_are_gone(alice: Person, bob: Person) -> None:
    leave(alice)

    assert not Conversation.objects.filter(user=alice.user).exists()
    assert not Message.objects.filter(content__contains=alice.secret).exists()
    assert Message.objects.filter(conversation__user=bob.user).count() == 8


def test_my_memories_are_gone_and_recall_finds_nothing_of_mine(alice: Person, bob: Person) -> None:
    assert selectors.passages_for(alice.user, f"my {alice.secret}")  # there was something

    leave(alice)

    assert selectors.passages_for(alice.user, f"my {alice.secret}") == []
    assert not Chunk.objects.filter(owner=alice.user, text__contains=alice.secret).exists()
    bobs = selectors.passages_for(bob.user, f"my {bob.secret}", k=10)
    assert {p.kind for p in bobs} == {"memory", "document"}


def test_my_private_documents_and_their_vectors_are_gone(
    alice: Person, bob: Person, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    scope = user_scope(alice.user.pk)
    monkeypatch.setattr(index, "FOLD_AT", 1)
    index.reset_cache()
    assert index.loaded(index.states([scope])[0]).snapshot is not None  # a copy on disk
    with django_capture_on_commit_callbacks(execute=True):  # as when the deletion commits
        leave(alice)

    assert not Document.objects.filter(owner=alice.user).exists()
    assert index.states([scope]) == []
    assert not list(index.index_dir().glob(f"{scope}.*.faiss"))  # no copy on disk
    assert not list(index.index_dir().glob(f"{scope}.*.npy"))
    assert [hit["document"] for hit in search(bob.api, bob.secret)] == [bob.document]


def test_my_order_notes_are_erased_and_the_orders_stay_with_their_amounts(
    alice: Person, bob: Person
) -> None:
    confirmed, draft = alice.orders
    totals = {order.pk: order.total for order in alice.orders}

    leave(alice)

    items = OrderItem.objects.filter(order__user=alice.user)
    assert items.count() == 3
    assert not items.filter(note__contains=alice.secret).exists()
    assert not items.filter(note="no basil").exists()
    for order in Order.objects.filter(user=alice.user):
        assert order.total == totals[order.pk]
    assert Order.objects.get(pk=confirmed.pk).status == "confirmed"
    assert Order.objects.get(pk=draft.pk).status == "cancelled"  # nobody can confirm it now
    assert OrderItem.objects.filter(order__user=bob.user, note__contains=bob.secret).count() == 2


def test_the_request_log_keeps_its_rows_but_not_my_words(alice: Person, bob: Person) -> None:
    rows = RequestLog.objects.filter(user=alice.user).count()

    leave(alice)

    logged = RequestLog.objects.filter(user=alice.user)
    assert logged.count() == rows == 4
    assert set(logged.values_list("request_text", "response_text", "client_ip")) == {("", "", None)}
    assert set(logged.values_list("username", flat=True)) == {f"deleted#{alice.user.pk}"}
    assert RequestLog.objects.filter(user=bob.user, request_text__contains=bob.secret).exists()


def test_the_ledger_stays_sums_to_the_zero_balance_and_says_it_was_forfeited(
    alice: Person,
) -> None:
    before = list(
        LedgerEntry.objects.filter(wallet_id=alice.user.pk)
        .order_by("id")
        .values_list("id", "delta", "balance_after", "kind")
    )
    assert balance_of(user=alice.user) == 3600

    leave(alice)

    entries = LedgerEntry.objects.filter(wallet_id=alice.user.pk).order_by("id")
    after = list(entries.values_list("id", "delta", "balance_after", "kind"))
    assert after[:-1] == before
    last = entries.last()
    assert last is not None
    assert (last.delta, last.balance_after, last.kind) == (-3600, 0, "adjustment")
    assert last.note == "account deleted: balance forfeited"
    assert balance_of(user=alice.user) == sum(e.delta for e in entries) == 0
    assert set(entries.values_list("username", flat=True)) == {f"deleted#{alice.user.pk}"}


def test_my_account_is_anonymised_and_my_token_no_longer_works(
    alice: Person, api: APIClient
) -> None:
    alice.user.email, alice.user.first_name = "alice@example.com", "Alice"
    alice.user.save()

    leave(alice)

    user = alice.user
    assert (user.username, user.email, user.first_name) == (f"deleted#{user.pk}", "", "")
    assert not user.is_active and not user.has_usable_password()
    assert alice.api.get("/api/me/").status_code == 401
    assert alice.api.get("/api/me/export/").status_code == 401
    assert not ApiToken.objects.filter(user=user).exists()
    login = api.post("/api/login/", {"username": "alice", "password": PASSWORD}, format="json")
    assert login.status_code == 400


def test_the_login_attempts_recorded_under_my_name_are_gone(alice: Person, api: APIClient) -> None:
    api.post("/api/login/", {"username": "Alice", "password": "wrong"}, format="json")
    assert AccessAttempt.objects.filter(username="alice").exists()

    leave(alice)

    assert not AccessAttempt.objects.filter(username="alice").exists()
    assert not AccessFailureLog.objects.filter(username="alice").exists()


def test_idempotency_records_which_keep_answers_are_gone(alice: Person) -> None:
    response = alice.api.post(
        "/api/chat/",
        {"message": f"the {alice.secret} again"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert response.status_code == 200

    leave(alice)

    assert not IdempotencyKey.objects.filter(user=alice.user).exists()


@pytest.mark.parametrize("password", [None, "", "not-my-password"])
def test_a_missing_or_wrong_password_is_a_400_and_erases_nothing(
    alice: Person, password: str | None
) -> None:
    response = delete_account(alice.api, password)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "password" in response.json()["errors"]
    assert alice.api.get("/api/me/").json()["username"] == "alice"
    assert Message.objects.filter(conversation__user=alice.user).count() == 8


def test_the_last_active_superuser_cannot_leave(
    make_user: Callable[..., User], make_person: Callable[..., Any]
) -> None:
    root = make_person("root", "rootsecret", conversations=1, is_superuser=True)
    retired = make_user("retired", is_superuser=True)
    User.objects.filter(pk=retired.pk).update(is_active=False)

    refused = delete_account(root.api, PASSWORD)

    assert refused.status_code == 409
    assert refused.json()["code"] == "last_superuser"
    assert root.api.get("/api/me/").status_code == 200
    make_user("heir", is_superuser=True)
    assert delete_account(root.api, PASSWORD).status_code == 204


def test_staff_who_are_not_superusers_may_leave(make_person: Callable[..., Any]) -> None:
    clerk = make_person("clerk", "clerksecret", conversations=1, is_staff=True)

    assert delete_account(clerk.api, PASSWORD).status_code == 204


def test_a_failure_midway_erases_nothing(alice: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("disk full")

    # The orders app fails after chat and retrieval erased theirs: all of it is undone.
    monkeypatch.setattr(services.orders, "user_erase", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        services.account_delete(user=alice.user, password=PASSWORD)

    alice.user.refresh_from_db()
    assert alice.user.username == "alice" and alice.user.is_active
    assert Message.objects.filter(conversation__user=alice.user).count() == 8
    assert balance_of(user=alice.user) == 3600
    assert selectors.passages_for(alice.user, f"my {alice.secret}")
    assert [hit["document"] for hit in search(alice.api, alice.secret)] == [alice.document]
    assert (
        OrderItem.objects.filter(order__user=alice.user, note__contains=alice.secret).count() == 2
    )
    assert Decimal(str(alice.orders[0].total)) > 0
