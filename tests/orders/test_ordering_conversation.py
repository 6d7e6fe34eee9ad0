"""Ordering through conversation, the same with every provider: the model proposes tool calls,
the server checks and runs them on the caller's own draft order."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry
from orders import services
from orders.models import Order, Product
from providers import registry
from tests.providers.fakes import FakeGemini, FakeOpenAI, Reply
from tests.providers.fakes.server import FakeToolCall

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalog")]


def say(api: APIClient, message: str, conversation: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation:
        body["conversation"] = conversation
    response = api.post("/api/chat/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def assert_confirmed_order(user: User, answers: list[dict[str, Any]]) -> None:
    order = Order.objects.get(user=user)
    assert order.status == "confirmed" and order.confirmed_at is not None
    items = sorted((i.product.sku, i.quantity, i.unit_price) for i in order.items.all())
    assert items == [("PZ-MARG", 2, Decimal("8.50")), ("SD-GARL", 1, Decimal("4.50"))]
    assert order.total == Decimal("21.50")
    assert [a["tokens_remaining"] for a in answers] == [3900, 3800, 3700, 3600]
    charges = LedgerEntry.objects.filter(wallet_id=user.pk, kind="chat_charge").count()
    assert charges == 4
    confirmation = answers[-1]
    assert confirmation["order"]["status"] == "confirmed"
    assert f"#{order.pk}" in confirmation["response"] and "21.50" in confirmation["response"]


def test_an_order_taken_by_the_local_assistant(user_api: APIClient, user: User):
    answers = []
    conversation = None
    for message in (
        "I'd like two margaritas, a garlic bread and a coke please",
        "actually remove the coke",
        "what's in my order?",
        "confirm",
    ):
        answers.append(say(user_api, message, conversation))
        conversation = answers[-1]["conversation"]

    assert answers[0]["order"]["total"] == "24.00"
    assert [i["sku"] for i in answers[1]["order"]["items"]] == ["PZ-MARG", "SD-GARL"]
    assert "2 × Margherita" in answers[2]["response"]
    assert_confirmed_order(user, answers)


def scripted_vendor_turns() -> list[tuple[Reply, Reply | None]]:
    """What a real model would answer, turn by turn: tool calls with loose names, then words."""
    return [
        (
            Reply(
                tool_calls=[
                    FakeToolCall("add_to_order", {"product": "margarita", "quantity": 2}),
                    FakeToolCall("add_to_order", {"product": "garlic toast", "quantity": 1}),
                    FakeToolCall("add_to_order", {"product": "coke", "quantity": 1}),
                ]
            ),
            Reply.answer("Added two Margheritas, a Garlic Bread and a Coca-Cola."),
        ),
        (
            Reply.tool_call("remove_from_order", {"product": "DR-COKE"}),
            Reply.answer("The Coca-Cola is gone."),
        ),
        (Reply.tool_call("view_order", {}), Reply.answer("2 × Margherita, 1 × Garlic Bread.")),
        (Reply.tool_call("confirm_order", {}), None),
    ]


def run_vendor_conversation(api: APIClient, fake: FakeOpenAI | FakeGemini) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    conversation = None
    messages = ["two margaritas, garlic toast and a coke", "drop the coke", "my order?", "confirm"]
    for message, (tool_reply, final) in zip(messages, scripted_vendor_turns(), strict=True):
        if final is None:  # the model relays what the confirm tool said, order number included
            order = Order.objects.get(status="draft")
            final = Reply.answer(f"Order #{order.pk} is confirmed: total 21.50 EUR.")
        fake.enqueue(tool_reply, final)
        answers.append(say(api, message, conversation))
        conversation = answers[-1]["conversation"]
    return answers


def test_an_order_taken_by_openai_through_tool_calls(
    user_api: APIClient, user: User, settings: Any
):
    with FakeOpenAI() as fake:
        settings.LLM_PROVIDER, settings.OPENAI_API_KEY = "openai", "sk-test"
        settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = fake.base_url, "gpt-fake"
        answers = run_vendor_conversation(user_api, fake)
        sent = fake.chat_requests()
    registry.reset()

    assert_confirmed_order(user, answers)
    tools = {tool["function"]["name"] for tool in sent[0].json["tools"]}
    assert tools == {
        "search_catalog",
        "add_to_order",
        "remove_from_order",
        "view_order",
        "confirm_order",
        "cancel_order",
    }
    tool_results = [m for m in sent[1].json["messages"] if m["role"] == "tool"]
    assert [json.loads(m["content"])["message"] for m in tool_results] == [
        "Added 2 × Margherita.",
        "Added 1 × Garlic Bread.",
        "Added 1 × Coca-Cola.",
    ]
    assert "x-catalog" not in json.dumps(sent[0].json["tools"])


def test_an_order_taken_by_gemini_through_function_calls(
    user_api: APIClient, user: User, settings: Any
):
    with FakeGemini() as fake:
        settings.LLM_PROVIDER, settings.GEMINI_API_KEY = "gemini", "gm-test"
        settings.GEMINI_BASE_URL, settings.GEMINI_MODEL = fake.base_url, "gemini-fake"
        settings.GEMINI_MODELS = ["gemini-fake"]
        answers = run_vendor_conversation(user_api, fake)
        sent = [r for r in fake.requests if "Content" in r.path]
    registry.reset()

    assert_confirmed_order(user, answers)
    responses = [
        part["functionResponse"]
        for content in sent[1].json["contents"]
        for part in content.get("parts", [])
        if "functionResponse" in part
    ]
    assert [r["name"] for r in responses] == ["add_to_order"] * 3


def draft_of(user: User) -> dict[str, int]:
    order = Order.objects.get(user=user, status="draft")
    return {item.product.sku: item.quantity for item in order.items.all()}


def converse(api: APIClient, *messages: str) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    conversation = None
    for message in messages:
        answers.append(say(api, message, conversation))
        conversation = answers[-1]["conversation"]
    return answers


def test_make_it_two_sets_the_quantity_of_the_item_last_ordered(user_api: APIClient, user: User):
    converse(user_api, "two margheritas and a diavola", "make it two")

    assert draft_of(user) == {"PZ-MARG": 2, "PZ-DIAV": 2}


def test_make_it_two_counts_from_the_draft_the_server_holds(user_api: APIClient, user: User):
    answers = converse(user_api, "a tiramisu please")
    # The draft changes outside the conversation (the web page, another tab): three now.
    services.item_add(user=user, product=Product.objects.get(sku="DS-TIRA"), quantity=2)

    say(user_api, "actually, make it two", answers[0]["conversation"])

    assert draft_of(user) == {"DS-TIRA": 2}


def test_another_one_and_remove_it_refer_to_the_last_item(user_api: APIClient, user: User):
    converse(user_api, "a sprite and a caesar salad", "another one please")
    assert draft_of(user) == {"DR-SPRT": 1, "SD-CSAL": 2}

    converse(user_api, "a garlic bread", "remove it")
    assert draft_of(user) == {"DR-SPRT": 1, "SD-CSAL": 2}


def test_a_product_instead_replaces_the_last_item(user_api: APIClient, user: User):
    converse(user_api, "a margherita please", "no wait, a pepperoni instead")
    assert draft_of(user) == {"PZ-PEPP": 1}

    converse(user_api, "two cokes", "actually sprites instead")
    assert draft_of(user) == {"PZ-PEPP": 1, "DR-SPRT": 2}


def test_a_description_that_fits_one_product_orders_it(user_api: APIClient, user: User):
    answers = converse(user_api, "one margherita and one vegetarian", "and the coffee dessert")

    assert draft_of(user) == {"PZ-MARG": 1, "PZ-VEGE": 1, "DS-TIRA": 1}
    assert "1 × Vegetariana" in answers[0]["response"]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (("a caesar salad", "replace it with a quattro formaggi"), {"PZ-4FOR": 1}),
        (("a sprite and a garlic bread", "take that off"), {"DR-SPRT": 1}),
        (("six cokes", "hmm, four is enough, make it four"), {"DR-COKE": 4}),
        (("a diavola", "and the dairy-free pizza"), {"PZ-DIAV": 1, "PZ-VEGN": 1}),
        (("is the hawaiian good?", "ok, I'll take two"), {"PZ-HAWA": 2}),
    ],
)
def test_follow_ups_refer_to_the_item_last_named(
    user_api: APIClient, user: User, messages: tuple[str, ...], expected: dict[str, int]
):
    converse(user_api, *messages)

    assert draft_of(user) == expected
