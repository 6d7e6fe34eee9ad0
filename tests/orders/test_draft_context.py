"""The draft order every chat's context shows (`draft_lines`, one hand-written query) is the
draft the order tools and the API show (`draft_of` and `order_summary`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import catalog, services
from orders.models import Order, Product
from orders.selectors import DraftLines, draft_lines, draft_of, order_summary

pytestmark = pytest.mark.usefixtures("catalog")


def _product(sku: str) -> Product:
    return Product.objects.get(sku=sku)


def test_the_context_shows_the_draft_the_tools_show(user: Any, staff: Any) -> None:
    services.item_add(user=user, product=_product("DS-TIRA"), quantity=4)
    services.order_confirm(user=user)  # an earlier order, no longer the draft
    services.item_add(user=user, product=_product("PZ-MARG"), quantity=2)
    services.item_add(user=user, product=_product("DR-COKE"), quantity=3)
    services.item_add(user=user, product=_product("PZ-MARG"), quantity=1, note="no basil")
    services.item_add(user=staff, product=_product("DR-COKE"), quantity=9)  # someone else's
    Product.objects.filter(sku="DR-COKE").update(price=Decimal("99.99"))  # lines keep theirs

    shown = draft_lines(user=user)
    summary = order_summary(draft_of(user=user))  # type: ignore[arg-type]

    assert shown is not None
    assert shown.number == summary["number"]
    assert shown.lines == [(item["quantity"], item["name"]) for item in summary["items"]]
    assert str(shown.total) == summary["total"]
    assert len(shown.lines) == 3


def test_a_confirmed_order_is_no_draft_and_an_emptied_draft_shows_as_empty(user: Any) -> None:
    services.item_add(user=user, product=_product("PZ-MARG"), quantity=1)
    services.order_confirm(user=user)
    assert draft_lines(user=user) is None
    assert [p.source for p in catalog.passages_for(user, "hello")] == []

    empty = Order.objects.create(user=user, status=Order.Status.DRAFT)

    assert draft_lines(user=user) == DraftLines(number=empty.pk, lines=[], total=Decimal("0.00"))
    [passage] = catalog.passages_for(user, "hello")
    assert passage.text == f"Draft order #{empty.pk}: empty; total 0.00."


def test_the_draft_passage_costs_one_query_however_many_lines_it_has(user: Any) -> None:
    for sku in ("PZ-MARG", "DR-COKE", "DS-TIRA"):
        services.item_add(user=user, product=_product(sku), quantity=2)
    catalog.passages_for(user, "hello")  # the catalog snapshot is loaded once per process

    with CaptureQueriesContext(connection) as captured:
        passages = catalog.passages_for(user, "hello")

    assert len(captured.captured_queries) == 1
    draft = order_summary(draft_of(user=user))  # type: ignore[arg-type]
    assert passages[-1].text == (
        f"Draft order #{draft['number']}: 2 × Margherita, 2 × Coca-Cola, 2 × Tiramisu; "
        f"total {draft['total']}."
    )
