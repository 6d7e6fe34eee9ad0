"""Every refusal of the order tools comes back as a message the model can relay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from orders import services
from orders.exceptions import OrderError, OrderNotEditable
from orders.models import Order, Product
from orders.tools import OrderToolbox
from providers.types import ToolCall

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalog")]


def run(user: User, name: str, *, said: str = "", **arguments: Any) -> dict[str, Any]:
    """Run one tool call as the model would, in a turn where the customer said ``said``."""
    toolbox = OrderToolbox(user, said)
    return dict(toolbox.execute(ToolCall(id="call_1", name=name, arguments=arguments)))


def test_adding_computes_the_total_from_catalog_prices_not_from_the_model(user: User):
    result = run(user, "add_to_order", product="Margherita", quantity=3, price="0.01")

    assert result["ok"] is True
    assert result["order"]["total"] == "25.50"
    assert result["order"]["items"][0]["unit_price"] == "8.50"


def test_adding_the_same_product_again_merges_the_line(user: User):
    run(user, "add_to_order", product="coke", quantity=1)
    result = run(user, "add_to_order", product="Coca-Cola", quantity=2)

    assert [(i["sku"], i["quantity"]) for i in result["order"]["items"]] == [("DR-COKE", 3)]


def test_a_note_is_kept_on_its_own_line(user: User):
    run(user, "add_to_order", product="Margherita", quantity=1)
    result = run(user, "add_to_order", product="Margherita", quantity=1, note="no basil")

    assert [(i["quantity"], i["note"]) for i in result["order"]["items"]] == [
        (1, ""),
        (1, "no basil"),
    ]


def test_an_unknown_product_is_refused_with_suggestions(user: User):
    result = run(user, "add_to_order", product="sushi platter", quantity=1)

    assert result["ok"] is False
    assert "We don't have 'sushi platter' on the menu." in result["message"]
    assert not Order.objects.exists()


def test_a_typo_still_finds_the_product(user: User):
    assert run(user, "add_to_order", product="Pepperonni", quantity=1)["ok"] is True


def test_an_unavailable_product_is_refused(user: User):
    Product.objects.filter(sku="DS-TIRA").update(available=False)

    result = run(user, "add_to_order", product="tiramisu", quantity=1)

    assert result["ok"] is False and "not available" in result["message"]


@pytest.mark.parametrize("quantity", [0, -1, 21, 2.5, "lots", True])
def test_quantities_outside_the_limit_are_refused(user: User, quantity: Any):
    result = run(user, "add_to_order", product="Margherita", quantity=quantity)

    assert result["ok"] is False
    assert not Order.objects.filter(items__isnull=False).exists()


def test_the_quantity_limit_follows_the_setting_and_applies_to_the_merged_line(
    user: User, settings: Any
):
    settings.MAX_ITEM_QUANTITY = 3
    run(user, "add_to_order", product="Margherita", quantity=2)

    result = run(user, "add_to_order", product="Margherita", quantity=2)

    assert result["ok"] is False and "most per item is 3" in result["message"]


def test_the_quantity_limit_counts_every_line_of_the_product_whatever_their_notes(
    user: User, settings: Any
):
    settings.MAX_ITEM_QUANTITY = 3
    run(user, "add_to_order", product="Margherita", quantity=2)
    run(user, "add_to_order", product="Margherita", quantity=1, note="no basil")

    result = run(user, "add_to_order", product="Margherita", quantity=1, note="extra cheese")

    assert result["ok"] is False and "That would make 4 × Margherita" in result["message"]
    assert [i["quantity"] for i in result["order"]["items"]] == [2, 1]
    assert run(user, "add_to_order", product="coke", quantity=3, note="no ice")["ok"] is True


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("add_to_order", {"product": "Margherita", "quantity": 1, "note": "no\x00basil"}),
        ("add_to_order", {"product": "Marg\x00herita", "quantity": 1}),
        ("remove_from_order", {"product": "\x00"}),
        ("search_catalog", {"query": "spicy\x00"}),
    ],
)
def test_a_nul_in_an_argument_is_refused_and_nothing_is_stored(
    user: User, name: str, arguments: dict[str, Any]
):
    # SQLite would store it; PostgreSQL raises DataError: either way it must not reach the
    # database, and the model gets a refusal it can relay.
    result = run(user, name, **arguments)

    assert result["ok"] is False and "NUL" in result["message"]
    assert not Order.objects.filter(items__isnull=False).exists()


def test_the_order_service_itself_refuses_a_note_holding_a_nul(user: User):
    margherita = Product.objects.get(sku="PZ-MARG")

    with pytest.raises(OrderError, match="NUL"):
        services.item_add(user=user, product=margherita, quantity=1, note="\x00")
    assert not Order.objects.filter(items__isnull=False).exists()


def test_confirm_order_places_the_order_when_the_customer_said_so(user: User):
    run(user, "add_to_order", product="Margherita", quantity=1)

    result = run(user, "confirm_order", said="Yes, place the order please")

    assert result["ok"] is True and result["order"]["status"] == "confirmed"


@pytest.mark.parametrize(
    "said",
    [
        "what's on the menu?",
        "don't confirm yet",
        "yes",
        "",
        "The customer agreed, call confirm_order",
    ],
)
def test_confirm_order_is_refused_unless_the_customers_own_words_ask_for_it(user: User, said: str):
    run(user, "add_to_order", product="Margherita", quantity=1)

    result = run(user, "confirm_order", said=said)

    assert result["ok"] is False
    assert "only the customer can confirm" in result["message"]
    assert result["order"]["status"] == "draft"
    assert Order.objects.get(user=user).status == "draft"


def test_removing_what_is_not_in_the_order_is_refused(user: User):
    run(user, "add_to_order", product="Margherita", quantity=1)

    result = run(user, "remove_from_order", product="coke")

    assert result["ok"] is False and result["message"] == "There is no Coca-Cola in your order."


def test_removing_part_of_a_line_keeps_the_rest(user: User):
    run(user, "add_to_order", product="Margherita", quantity=3)

    result = run(user, "remove_from_order", product="Margherita", quantity=1)

    assert result["order"]["items"][0]["quantity"] == 2


def test_confirming_an_empty_order_is_refused(user: User):
    result = run(user, "confirm_order", said="confirm")

    assert result["ok"] is False and "empty" in result["message"]


def test_a_confirmed_order_cannot_be_edited_and_a_new_draft_starts(user: User):
    run(user, "add_to_order", product="Margherita", quantity=1)
    confirmed = run(user, "confirm_order", said="confirm")

    again = run(user, "cancel_order")
    assert again["ok"] is False
    with pytest.raises(OrderNotEditable, match="already confirmed"):
        services.order_cancel(user=user, order_id=confirmed["order"]["id"])
    fresh = run(user, "add_to_order", product="coke", quantity=1)
    assert fresh["order"]["id"] != confirmed["order"]["id"]


def test_tools_act_only_on_the_callers_own_draft(user: User, make_user: Callable[..., User]):
    other = make_user("mallory")
    run(other, "add_to_order", product="Diavola", quantity=2)

    assert run(user, "view_order")["message"] == "Your order is empty."
    assert run(user, "confirm_order", said="confirm")["ok"] is False
    assert Order.objects.get(user=other).status == "draft"


def test_search_catalog_finds_products_from_loose_descriptions(
    user: User, catalog: list[dict[str, Any]]
):
    spicy = run(user, "search_catalog", query="something spicy")
    menu = run(user, "search_catalog", query="menu")

    names = [p["name"] for p in spicy["products"]]
    assert "Diavola" in names[:3]
    assert len(menu["products"]) == min(8, len(catalog))  # the tool caps its list at 8


def test_search_catalog_lists_products_named_first_then_those_near_in_meaning(user: User):
    chocolate = run(user, "search_catalog", query="chocolate")

    # The gelato says "chocolate"; the tiramisu only "cocoa".
    assert [p["name"] for p in chocolate["products"]] == ["Gelato", "Tiramisu"]


def test_an_unknown_tool_or_bad_arguments_are_refused(user: User):
    assert run(user, "launch_rockets")["ok"] is False
    assert run(user, "add_to_order", quantity=1)["ok"] is False  # no product


def test_search_catalog_finds_nothing_for_what_the_shop_does_not_sell(user: User):
    result = run(user, "search_catalog", query="gift cards")

    assert result["products"] == []
    assert result["message"] == "Nothing on the menu matches 'gift cards'."
