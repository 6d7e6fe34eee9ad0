"""Usage reports, against sums worked out by hand: a user's own by day and model, staff's by
user, as JSON and CSV, paged, and every bad query a 400 naming its parameter."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing
from billing.models import LedgerEntry
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TODAY = datetime.now(UTC).date()


def spend(user: User, amount: int, model: str, *, days_ago: int, refunded: bool = False) -> None:
    """A chat's charge (and its refund) made ``days_ago`` days ago."""
    reference = f"chat:{user.pk}-{amount}-{model}-{days_ago}-{refunded}"
    entries = [billing.charge(user=user, amount=amount, reference=reference, model=model)]
    if refunded:
        entries.append(billing.refund(user=user, amount=amount, reference=reference, model=model))
    when = datetime.now(UTC).replace(hour=12) - timedelta(days=days_ago)
    table = LedgerEntry._meta.db_table
    with connection.cursor() as cursor:  # the ledger refuses updates through the ORM
        for entry in entries:
            cursor.execute(f"UPDATE {table} SET created_at = %s WHERE id = %s", [when, entry.pk])  # noqa: S608


@pytest.fixture
def history(user: User, make_user: Any) -> User:
    spend(user, 100, "local/tally-local-1", days_ago=0)
    spend(user, 100, "local/tally-local-1", days_ago=0, refunded=True)
    spend(user, 300, "openai/gpt-4o", days_ago=0)
    spend(user, 300, "openai/gpt-4o", days_ago=2)
    spend(user, 100, "local/tally-local-1", days_ago=40)  # outside the default 30 days
    other = make_user("bob")
    spend(other, 100, "local/tally-local-1", days_ago=0)
    return user


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def test_a_users_usage_by_day_and_by_model(history: User) -> None:
    api = client_for(history)

    by_day = api.get("/api/usage/").json()
    by_model = api.get("/api/usage/?group_by=model").json()

    assert by_day["results"] == [
        {"day": day(2), "chats": 1, "refunds": 0, "tokens_charged": 300, "tokens_refunded": 0,
         "tokens_spent": 300},
        {"day": day(0), "chats": 3, "refunds": 1, "tokens_charged": 500, "tokens_refunded": 100,
         "tokens_spent": 400},
    ]  # fmt: skip
    assert [(r["model"], r["chats"], r["tokens_spent"]) for r in by_model["results"]] == [
        ("local/tally-local-1", 2, 100),
        ("openai/gpt-4o", 2, 600),
    ]


def test_a_range_reaches_back_as_far_as_asked(history: User) -> None:
    response = client_for(history).get(f"/api/usage/?from={day(45)}&to={day(1)}")

    assert [(r["day"], r["tokens_spent"]) for r in response.json()["results"]] == [
        (day(40), 100),
        (day(2), 300),
    ]


def test_csv_by_accept_header_or_format_parameter(history: User) -> None:
    api = client_for(history)

    accepted = api.get("/api/usage/?group_by=model", HTTP_ACCEPT="text/csv")
    suffixed = api.get("/api/usage/?group_by=model&format=csv")

    assert accepted["Content-Type"].startswith("text/csv")
    assert accepted.content == suffixed.content
    assert 'filename="usage.csv"' in accepted["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(accepted.content.decode())))
    assert rows == [
        {"model": "local/tally-local-1", "chats": "2", "refunds": "1", "tokens_charged": "200",
         "tokens_refunded": "100", "tokens_spent": "100"},
        {"model": "openai/gpt-4o", "chats": "2", "refunds": "0", "tokens_charged": "600",
         "tokens_refunded": "0", "tokens_spent": "600"},
    ]  # fmt: skip


def test_pages_link_to_the_next(history: User) -> None:
    response = client_for(history).get("/api/usage/?page_size=1")

    body = response.json()
    assert (body["count"], len(body["results"])) == (2, 1)
    assert response["Link"] == f'<{body["next"]}>; rel="next"'


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"from={day(0)}&to={day(3)}", "from"),
        (f"from={day(400)}", "from"),
        ("from=yesterday", "from"),
        ("group_by=user", "group_by"),
        ("to=0001-01-01", "to"),
        ("to=9999-12-31", "to"),
    ],
)
def test_a_bad_query_is_a_400_naming_it(history: User, query: str, field: str) -> None:
    response = client_for(history).get(f"/api/usage/?{query}")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_staff_see_everyones_usage_by_user_and_can_narrow_it(
    history: User, staff: User, user_api: APIClient
) -> None:
    api = client_for(staff)

    everyone = api.get("/api/admin/usage/").json()["results"]
    alice = api.get("/api/admin/usage/?user=ALICE&group_by=model").json()["results"]

    assert [(r["user"], r["chats"], r["tokens_spent"]) for r in everyone] == [
        ("alice", 3 + 1, 700),
        ("bob", 1, 100),
    ]
    assert {r["model"] for r in alice} == {"local/tally-local-1", "openai/gpt-4o"}
    assert api.get("/api/admin/usage/?user=nobody").status_code == 404
    assert user_api.get("/api/admin/usage/").status_code == 403
