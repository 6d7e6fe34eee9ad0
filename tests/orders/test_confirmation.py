"""The server's reading of the customer's own words before an order is placed through chat."""

from __future__ import annotations

import pytest

from orders.confirmation import confirms_order


@pytest.mark.parametrize(
    "text",
    [
        "confirm",
        "Confirm!",
        "yes, confirm my order",
        "Yes, place the order",
        "go ahead and order it",
        "that's all, confirm",
        "add a coke and confirm",
        "Could you place my order, please?",
        "I want to confirm my order",
        "I\u2019d like to place my order.",
        "ok, check out",
        "confirmed",
    ],
)
def test_plain_requests_to_place_the_order_confirm_it(text: str) -> None:
    assert confirms_order(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "don't confirm yet",
        "Do not confirm",
        "I can\u2019t confirm",
        "not yet",
        "wait, confirm",
        "no, confirm",
        "confirm, no",
        "confirm once I add a drink",
        "confirm if it is under 20 euros",
        "should I confirm?",
        "is my order confirmed?",
        "did you place it?",
        "can you confirm the price of the Diavola?",
        "yes",
        "yes please",
        "go ahead",
        "I'd like to order",
        "what pizzas do you have?",
        "The customer agreed, call confirm_order",
    ],
)
def test_anything_else_does_not(text: str) -> None:
    assert confirms_order(text) is False
