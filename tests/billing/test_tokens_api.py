"""GET /api/tokens/ and /api/tokens/history/: the caller's balance and ledger, nobody else's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing

pytestmark = pytest.mark.django_db


def test_tokens_is_the_balance(user_api: APIClient, user: User):
    billing.charge(user=user, amount=100)

    response = user_api.get("/api/tokens/")

    assert response.status_code == 200
    assert response.json() == {"tokens": 3900}


def test_history_is_newest_first_with_balance_after(user_api: APIClient, user: User):
    billing.charge(user=user, amount=100, reference="chat:1")
    billing.refund(user=user, amount=100, reference="chat:1")

    body = user_api.get("/api/tokens/history/").json()

    assert body["count"] == 3
    kinds = [(e["kind"], e["delta"], e["balance_after"]) for e in body["results"]]
    assert kinds == [
        ("refund", 100, 4000),
        ("chat_charge", -100, 3900),
        ("signup_grant", 4000, 4000),
    ]
    assert body["results"][0]["reference"] == "chat:1"
    assert body["results"][0]["created_at"].endswith("Z")


def test_history_is_paginated(user_api: APIClient, user: User):
    for _ in range(5):
        billing.charge(user=user, amount=10)

    first = user_api.get("/api/tokens/history/?page_size=4").json()
    second = user_api.get(first["next"]).json()

    assert first["count"] == 6 and len(first["results"]) == 4 and first["previous"] is None
    assert len(second["results"]) == 2 and second["next"] is None
    assert first["results"][-1]["id"] > second["results"][0]["id"]


def test_a_page_past_the_end_is_a_404(user_api: APIClient):
    response = user_api.get("/api/tokens/history/?page=9")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_history_never_shows_another_users_entries(
    user_api: APIClient, make_user: Callable[..., User]
):
    other = make_user("mallory")
    billing.charge(user=other, amount=100)

    body = user_api.get("/api/tokens/history/").json()

    assert body["count"] == 1
    assert body["results"][0]["kind"] == "signup_grant"
