"""POST /api/admin/top-ups/: staff credit a wallet; everyone else is refused."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry

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
