"""The catalog and orders REST API, and concurrent confirm/cancel of one order."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.models import User
from orders import services
from orders.models import Order
from orders.selectors import product_resolve
from tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("catalog")


def draft(user: User, *items: tuple[str, int]) -> Order:
    order = None
    for name, quantity in items:
        order = services.item_add(
            user=user, product=product_resolve(reference=name), quantity=quantity
        )
    assert order is not None
    return order


@pytest.mark.django_db
def test_products_are_listed_page_by_page_and_searched(
    user_api: APIClient, catalog: list[dict[str, Any]]
):
    listed: list[dict[str, Any]] = []
    pages = 0
    url: str | None = "/api/products/?page_size=5"
    while url:
        page = user_api.get(url).json()
        assert page["count"] == len(catalog) and len(page["results"]) <= 5
        listed += page["results"]
        pages += 1
        url = page["next"]
    spicy = user_api.get("/api/products/?search=spicy").json()

    assert sorted(p["sku"] for p in listed) == sorted(p["sku"] for p in catalog)
    assert pages == math.ceil(len(catalog) / 5)
    assert set(listed[0]) == {
        "id",
        "sku",
        "name",
        "description",
        "price",
        "aliases",
        "available",
    }
    assert {p["name"] for p in spicy["results"]} == {"Pepperoni", "Diavola", "Chicken Wings"}


@pytest.mark.django_db
@pytest.mark.parametrize("search", ["\x00", "spicy\x00pizza", "x" * 201])
def test_a_search_no_database_can_take_is_a_400(user_api: APIClient, search: str):
    # PostgreSQL refuses NUL in text: the schema fuzzer's `search=%00…` was a 500 there.
    response = user_api.get("/api/products/", {"search": search})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["search"]


@pytest.mark.django_db
def test_orders_list_and_detail_show_only_my_orders(
    user: User, user_api: APIClient, make_user: Callable[..., User]
):
    mine = draft(user, ("Margherita", 2))
    theirs = draft(make_user("mallory"), ("Diavola", 1))

    listing = user_api.get("/api/orders/").json()
    detail = user_api.get(f"/api/orders/{mine.pk}/").json()

    assert [o["id"] for o in listing["results"]] == [mine.pk]
    assert detail["total"] == "17.00" and detail["status"] == "draft"
    assert detail["items"] == [
        {
            "sku": "PZ-MARG",
            "name": "Margherita",
            "quantity": 2,
            "unit_price": "8.50",
            "line_total": "17.00",
            "note": "",
        }
    ]
    assert user_api.get(f"/api/orders/{theirs.pk}/").status_code == 404
    assert user_api.post(f"/api/orders/{theirs.pk}/confirm/").status_code == 404
    assert user_api.post(f"/api/orders/{theirs.pk}/cancel/").status_code == 404
    assert Order.objects.get(pk=theirs.pk).status == "draft"


@pytest.mark.django_db
def test_confirm_then_cancel_is_a_409(user: User, user_api: APIClient):
    order = draft(user, ("coke", 1))

    confirmed = user_api.post(f"/api/orders/{order.pk}/confirm/")
    cancelled = user_api.post(f"/api/orders/{order.pk}/cancel/")

    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["confirmed_at"].endswith("Z")
    assert cancelled.status_code == 409 and cancelled.json()["code"] == "order_not_editable"


@pytest.mark.django_db
def test_a_draft_can_be_cancelled(user: User, user_api: APIClient):
    order = draft(user, ("coke", 1))

    response = user_api.post(f"/api/orders/{order.pk}/cancel/")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"


@pytest.mark.django_db
def test_orders_need_a_token(api: APIClient):
    assert api.get("/api/orders/").status_code == 401
    assert api.get("/api/products/").status_code == 401


def race(user: User, order_id: int) -> list[tuple[str, int]]:
    """Confirm and cancel the same order at the same moment, from two threads."""
    start = threading.Barrier(2)
    results: list[tuple[str, int]] = []

    def act(action: str) -> None:
        api = client_for(user)
        start.wait()
        try:
            results.append((action, api.post(f"/api/orders/{order_id}/{action}/").status_code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=act, args=(action,)) for action in ("confirm", "cancel")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirm_and_cancel_leave_exactly_one_final_state(
    catalog: list[dict[str, Any]],
) -> None:
    user, _ = accounts.user_register(username="racer", password="s3cret-pass-word")
    for _ in range(5):
        order = draft(user, ("Margherita", 1))

        results = race(user, order.pk)

        order.refresh_from_db()
        assert sorted(status for _, status in results) == [200, 409]
        winner = next(action for action, status in results if status == 200)
        assert order.status == {"confirm": "confirmed", "cancel": "cancelled"}[winner]
