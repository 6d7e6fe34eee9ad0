"""POST /api/admin/top-ups/: staff with the billing permission credit a wallet; everyone else
is refused, and nobody but a superuser credits their own."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry, Wallet
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
URL = "/api/admin/top-ups/"


def test_staff_top_up_credits_the_wallet_and_records_who(
    staff_api: APIClient, staff: User, user: User, user_api: APIClient
):
    response = staff_api.post(
        URL, {"username": "alice", "amount": 500, "note": "loyalty"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "alice"
    assert body["amount"] == 500
    assert body["tokens"] == 4500
    assert body["entry"]["kind"] == "top_up" and body["entry"]["note"] == "loyalty"
    entry = LedgerEntry.objects.get(pk=body["entry"]["id"])
    assert entry.created_by == staff and entry.balance_after == 4500
    assert user_api.get("/api/tokens/").json() == {"tokens": 4500}


def test_a_non_staff_user_gets_403_and_nothing_changes(user_api: APIClient, user: User):
    response = user_api.post(URL, {"username": "alice", "amount": 500}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert user_api.get("/api/tokens/").json() == {"tokens": 4000}


def test_unknown_user_is_a_404(staff_api: APIClient):
    response = staff_api.post(URL, {"username": "ghost", "amount": 500}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "No user named 'ghost'.", "code": "not_found"}


@pytest.mark.parametrize(
    "amount",
    [0, -5, 1.5, "abc", None, True, 1_000_001, 10**30],
)
def test_amount_must_be_a_positive_integer_up_to_the_maximum(
    staff_api: APIClient, user: User, amount: Any
):
    response = staff_api.post(URL, {"username": "alice", "amount": amount}, format="json")

    assert response.status_code == 400
    assert "amount" in response.json()["errors"]
    assert LedgerEntry.objects.filter(kind="top_up").count() == 0


def test_the_maximum_follows_the_setting(staff_api: APIClient, user: User, settings: Any):
    settings.MAX_TOP_UP = 50
    assert (
        staff_api.post(URL, {"username": "alice", "amount": 50}, format="json").status_code == 201
    )
    assert (
        staff_api.post(URL, {"username": "alice", "amount": 51}, format="json").status_code == 400
    )


def test_missing_fields_are_named(staff_api: APIClient):
    response = staff_api.post(URL, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "amount"}


def test_staff_without_the_billing_permission_get_403_and_nothing_changes(
    make_user: Any, user: User, user_api: APIClient
):
    clerk = client_for(make_user("clerk", is_staff=True))

    response = clerk.post(URL, {"username": "alice", "amount": 500}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert user_api.get("/api/tokens/").json() == {"tokens": 4000}


def test_without_the_permission_an_unknown_name_is_403_too_so_names_stay_private(
    make_user: Any,
):
    clerk = client_for(make_user("clerk", is_staff=True))

    assert clerk.post(URL, {"username": "ghost", "amount": 5}, format="json").status_code == 403


def test_staff_cannot_top_up_their_own_wallet(staff_api: APIClient, staff: User):
    response = staff_api.post(URL, {"username": "boss", "amount": 500}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only a superuser may top up their own wallet.",
        "code": "permission_denied",
    }
    assert Wallet.objects.get(pk=staff.pk).balance == 4000
    assert not LedgerEntry.objects.filter(kind="top_up").exists()


def test_a_superuser_may_top_up_their_own_wallet(make_user: Any):
    root = make_user("root", is_staff=True, is_superuser=True)

    response = client_for(root).post(URL, {"username": "root", "amount": 500}, format="json")

    assert response.status_code == 201 and response.json()["tokens"] == 4500


def test_the_history_says_which_staff_member_made_a_top_up(
    staff_api: APIClient, user: User, user_api: APIClient
):
    staff_api.post(URL, {"username": "alice", "amount": 500}, format="json")

    entries = user_api.get("/api/tokens/history/").json()["results"]

    assert [(e["kind"], e["created_by"]) for e in entries] == [
        ("top_up", "boss"),
        ("signup_grant", None),
    ]


def test_a_balance_change_moves_the_wallets_updated_at(staff_api: APIClient, user: User):
    before = Wallet.objects.get(pk=user.pk).updated_at

    staff_api.post(URL, {"username": "alice", "amount": 500}, format="json")

    assert Wallet.objects.get(pk=user.pk).updated_at > before
