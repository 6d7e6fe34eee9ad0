"""The catalog snapshot behind every chat's menu passages and order tools: no query per chat,
changes made here apply at once, changes made by another process within `REFRESH_S`."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import catalog
from orders.models import Product
from orders.tools import tool_specs

pytestmark = pytest.mark.usefixtures("catalog")


def _menu(text: str) -> list[str]:
    return [product.name for product in catalog.catalog_matches(query=text)]


def _hinted_skus() -> set[str]:
    add = next(spec for spec in tool_specs() if spec.name == "add_to_order")
    return {entry["sku"] for entry in add.parameters["properties"]["product"]["x-catalog"]}


def test_chats_within_the_refresh_window_read_no_catalog_rows(user: Any) -> None:
    catalog.passages_for(user, "something spicy")
    tool_specs()

    with CaptureQueriesContext(connection) as captured:
        catalog.passages_for(user, "something spicy")
        tool_specs()

    # The one query left is the caller's draft order (products join it only for its lines).
    read = [q["sql"] for q in captured.captured_queries if 'FROM "orders_product"' in q["sql"]]
    assert read == []
    assert len(captured.captured_queries) == 1


def test_a_product_saved_in_this_process_leaves_the_menu_and_the_tools_at_once() -> None:
    assert "Tiramisu" in _menu("tiramisu")
    assert "DS-TIRA" in _hinted_skus()
    tiramisu = Product.objects.get(sku="DS-TIRA")

    tiramisu.available = False
    tiramisu.save()

    assert "Tiramisu" not in _menu("tiramisu")
    assert "DS-TIRA" not in _hinted_skus()


def test_another_process_change_is_seen_once_the_refresh_window_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "Tiramisu" in _menu("tiramisu")
    # No signal reaches this process: as if the admin ran in another worker.
    Product.objects.filter(sku="DS-TIRA").update(available=False)
    assert "Tiramisu" in _menu("tiramisu")  # the snapshot is at most REFRESH_S old

    monkeypatch.setattr(catalog, "REFRESH_S", 0.0)

    assert "Tiramisu" not in _menu("tiramisu")
    assert "DS-TIRA" not in _hinted_skus()
