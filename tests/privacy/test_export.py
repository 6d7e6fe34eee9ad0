"""`GET /api/me/export/`: everything Tally keeps about me as one JSON document, nothing of
anyone else's, in the same few queries however much there is."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orders import services as orders
from orders.models import Product
from tests.privacy.conftest import Person
from tests.retrieval.conftest import upload

pytestmark = pytest.mark.django_db


def export(person: Person) -> dict[str, Any]:
    response = person.api.get("/api/me/export/")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_the_export_holds_my_profile_conversations_documents_orders_and_ledger(
    alice: Person,
) -> None:
    body = export(alice)

    assert body["format"] == "tally-export/1"
    assert body["profile"]["username"] == "alice"
    assert body["profile"]["tokens"] == 3600
    assert [c["id"] for c in body["conversations"]] == alice.conversations
    first = body["conversations"][0]["messages"]
    assert [m["role"] for m in first] == ["user", "assistant", "user", "assistant"]
    assert first[0]["content"] == f"My {alice.secret} is number 0, please remember it"
    (document,) = body["documents"]
    assert (document["id"], document["title"], document["kind"]) == (
        alice.document,
        "private",
        "txt",
    )
    assert "text" not in document  # metadata only
    confirmed, draft = body["orders"]
    assert (confirmed["status"], confirmed["total"]) == ("confirmed", "17.00")
    assert [item["note"] for item in draft["items"]] == [f"ring the {alice.secret}", "no basil"]
    ledger = body["ledger"]
    assert [e["kind"] for e in ledger] == ["signup_grant"] + ["chat_charge"] * 4
    assert sum(e["delta"] for e in ledger) == ledger[-1]["balance_after"] == 3600


def test_the_export_holds_nothing_of_anyone_else(alice: Person, bob: Person) -> None:
    body = json.dumps(export(alice))

    assert alice.secret in body
    assert bob.secret not in body
    assert "bob" not in body


def test_the_export_costs_the_same_queries_however_much_i_have(
    make_person: Callable[..., Person],
) -> None:
    small = make_person("small", "smallsecret", conversations=1)
    large = make_person("large", "largesecret", conversations=6)
    coke = Product.objects.get(sku="DR-COKE")
    for n in range(3):  # more orders (with lines), documents and ledger entries too
        orders.item_add(user=large.user, product=coke, quantity=1, note=f"order {n}")
        orders.order_confirm(user=large.user)
        assert upload(large.api, f"more{n}.txt", f"Another note, number {n}.").status_code == 201

    counts = []
    for person in (small, large):
        with CaptureQueriesContext(connection) as queries:
            export(person)
        counts.append(len(queries))

    assert counts[0] == counts[1] <= 8


def test_the_export_needs_a_token(api: APIClient) -> None:
    assert api.get("/api/me/export/").status_code == 401
