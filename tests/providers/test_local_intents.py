"""The offline assistant turns what people say about their order into the order tools' calls."""

from __future__ import annotations

from typing import Any

import pytest

from providers.adapters.local import LocalProvider
from providers.base import ProviderConfig
from providers.types import Completion, Message, Prompt, ToolSpec

# A pizzeria as the order tools describe it: SKU, then the product's name, then its aliases.
PIZZERIA: list[dict[str, Any]] = [
    {"sku": "PZ-MAR", "names": ["Margherita Pizza", "margherita", "margarita"]},
    {"sku": "PZ-PEP", "names": ["Pepperoni Pizza", "pepperoni", "peperoni"]},
    {"sku": "PZ-4FO", "names": ["Quattro Formaggi", "four cheese", "four cheese pizza"]},
    {"sku": "PZ-DIA", "names": ["Diavola", "diavola pizza", "spicy salami pizza"]},
    {"sku": "PZ-VEG", "names": ["Vegetariana", "veggie pizza", "veggie"]},
    {"sku": "PZ-HAW", "names": ["Hawaiian Pizza", "hawaiian", "hawaii"]},
    {"sku": "SD-GAR", "names": ["Garlic Bread", "garlic bread"]},
    {"sku": "SD-CAE", "names": ["Caesar Salad", "caesar", "salad"]},
    {"sku": "DS-TIR", "names": ["Tiramisu"]},
    {"sku": "DR-COKE", "names": ["Coca-Cola", "coke", "cola", "coca cola"]},
    {"sku": "DR-SPR", "names": ["Sprite"]},
    {"sku": "DR-WAT", "names": ["Sparkling Water", "water", "fizzy water"]},
]
PRODUCT = {"type": "string", "description": "The product's SKU.", "x-catalog": PIZZERIA}
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}

SEARCH_CATALOG = ToolSpec(
    "search_catalog",
    "Search the shop's products.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
ADD_TO_ORDER = ToolSpec(
    "add_to_order",
    "Add a product to the caller's draft order.",
    {
        "type": "object",
        "properties": {
            "product": PRODUCT,
            "quantity": {"type": "integer", "minimum": 1},
            "note": {"type": "string"},
        },
        "required": ["product", "quantity"],
    },
)
REMOVE_FROM_ORDER = ToolSpec(
    "remove_from_order",
    "Remove a product from the draft order; without a quantity, all of it.",
    {
        "type": "object",
        "properties": {"product": PRODUCT, "quantity": {"type": "integer", "minimum": 1}},
        "required": ["product"],
    },
)
VIEW_ORDER = ToolSpec("view_order", "Show the draft order.", NO_ARGUMENTS)
CONFIRM_ORDER = ToolSpec("confirm_order", "Place the draft order.", NO_ARGUMENTS)
CANCEL_ORDER = ToolSpec("cancel_order", "Cancel the draft order.", NO_ARGUMENTS)
PIZZERIA_TOOLS = (
    SEARCH_CATALOG,
    ADD_TO_ORDER,
    REMOVE_FROM_ORDER,
    VIEW_ORDER,
    CONFIRM_ORDER,
    CANCEL_ORDER,
)


Call = tuple[str, dict[str, Any]]


def add(sku: str, quantity: int = 1, note: str | None = None) -> Call:
    arguments: dict[str, Any] = {"product": sku, "quantity": quantity}
    if note is not None:
        arguments["note"] = note
    return ("add_to_order", arguments)


def remove(sku: str, quantity: int | None = None) -> Call:
    arguments: dict[str, Any] = {"product": sku}
    if quantity is not None:
        arguments["quantity"] = quantity
    return ("remove_from_order", arguments)


def search(query: str) -> Call:
    return ("search_catalog", {"query": query})


VIEW: Call = ("view_order", {})
CONFIRM: Call = ("confirm_order", {})
CANCEL: Call = ("cancel_order", {})

UTTERANCES: list[tuple[str, list[Call]]] = [
    # Quantities in digits and words, several items per sentence.
    ("two large pepperoni and a coke", [add("PZ-PEP", 2), add("DR-COKE")]),
    ("I'd like 2 margheritas and a coke", [add("PZ-MAR", 2), add("DR-COKE")]),
    ("Can I get a Margherita, please?", [add("PZ-MAR")]),
    ("an order of garlic bread", [add("SD-GAR")]),
    ("3x garlic bread", [add("SD-GAR", 3)]),
    ("garlic bread x3", [add("SD-GAR", 3)]),
    ("margherita \u00d7 2", [add("PZ-MAR", 2)]),
    ("a dozen tiramisu", [add("DS-TIR", 12)]),
    ("half a dozen garlic breads", [add("SD-GAR", 6)]),
    ("a couple of cokes", [add("DR-COKE", 2)]),
    ("twenty one sprites for the party", [add("DR-SPR", 21)]),
    ("one more pepperoni", [add("PZ-PEP")]),
    (
        "one margherita, two pepperoni and three cokes",
        [add("PZ-MAR"), add("PZ-PEP", 2), add("DR-COKE", 3)],
    ),
    ("a coke, a sprite and a fizzy water", [add("DR-COKE"), add("DR-SPR"), add("DR-WAT")]),
    ("hi, can I get two margheritas?", [add("PZ-MAR", 2)]),
    # Names: plurals, case, the longest alias, multi-word names, typos.
    ("MARGHERITAS", [add("PZ-MAR")]),
    ("Sparkling Waters please", [add("DR-WAT")]),
    ("two pepperoni pizzas please", [add("PZ-PEP", 2)]),
    ("add a four cheese pizza", [add("PZ-4FO")]),
    ("add 2 quattro formaggi", [add("PZ-4FO", 2)]),
    ("a caesar salad and a Coca-Cola", [add("SD-CAE"), add("DR-COKE")]),
    ("I'd like a hawaian pizza", [add("PZ-HAW")]),
    ("margerita and tiramissu", [add("PZ-MAR"), add("DS-TIR")]),
    # Notes for the kitchen.
    ("a margherita with extra cheese", [add("PZ-MAR", note="with extra cheese")]),
    (
        "a pepperoni without onions and a sprite",
        [add("PZ-PEP", note="without onions"), add("DR-SPR")],
    ),
    ("a hawaiian, no olives", [add("PZ-HAW", note="no olives")]),
    (
        "a margherita with extra cheese and no olives, and two cokes",
        [add("PZ-MAR", note="with extra cheese, no olives"), add("DR-COKE", 2)],
    ),
    (
        "a diavola with ham and pineapple and a coke",
        [add("PZ-DIA", note="with ham and pineapple"), add("DR-COKE")],
    ),
    ("a margherita with a coke", [add("PZ-MAR"), add("DR-COKE")]),
    # Removals: a quantity only when one was said.
    ("remove the coke", [remove("DR-COKE")]),
    ("no coke after all", [remove("DR-COKE")]),
    ("take off one pepperoni", [remove("PZ-PEP", 1)]),
    ("remove 2 cokes", [remove("DR-COKE", 2)]),
    ("remove all the cokes", [remove("DR-COKE")]),
    ("take the coke off my order", [remove("DR-COKE")]),
    ("can you remove the garlic bread?", [remove("SD-GAR")]),
    ("I don't want the tiramisu anymore", [remove("DS-TIR")]),
    ("cancel the garlic bread", [remove("SD-GAR")]),
    ("one less coke", [remove("DR-COKE", 1)]),
    ("remove the coke and the sprite", [remove("DR-COKE"), remove("DR-SPR")]),
    ("remove the coke and add a sprite", [remove("DR-COKE"), add("DR-SPR")]),
    ("swap the coke for a sprite", [remove("DR-COKE"), add("DR-SPR")]),
    ("replace the pepperoni with a margherita", [remove("PZ-PEP"), add("PZ-MAR")]),
    ("I'll have a sprite instead of the coke", [add("DR-SPR"), remove("DR-COKE")]),
    # The order as a whole.
    ("what's in my order?", [VIEW]),
    ("show my order", [VIEW]),
    ("my cart", [VIEW]),
    ("what did I order?", [VIEW]),
    ("confirm", [CONFIRM]),
    ("yes, place the order", [CONFIRM]),
    ("that's all, confirm", [CONFIRM]),
    ("add a coke and confirm", [add("DR-COKE"), CONFIRM]),
    ("a sprite please, and show me my order", [add("DR-SPR"), VIEW]),
    ("cancel my order", [CANCEL]),
    ("cancel", [CANCEL]),
    ("clear my cart", [CANCEL]),
    # Browsing the catalog: the question's key words become the query.
    ("do you have something spicy?", [search("spicy")]),
    ("what vegetarian pizzas do you have", [search("vegetarian pizzas")]),
    ("show me the menu", [search("menu")]),
    ("how much is a pepperoni?", [search("pepperoni")]),
    ("is the diavola spicy?", [search("diavola spicy")]),
    ("vegetarian options", [search("vegetarian")]),
]


@pytest.fixture(scope="module")
def local() -> LocalProvider:
    config = ProviderConfig(name="local", default_model="tally-local-1", models=("tally-local-1",))
    return LocalProvider(config)


def ask(
    local: LocalProvider,
    text: str,
    tools: tuple[ToolSpec, ...] = PIZZERIA_TOOLS,
    history: tuple[Message, ...] = (),
) -> Completion:
    return local.complete(Prompt(messages=[*history, Message("user", text)], tools=tools))


def calls_of(completion: Completion) -> list[Call]:
    return [(call.name, dict(call.arguments)) for call in completion.tool_calls]


def test_the_utterance_table_covers_at_least_35_cases() -> None:
    assert len(UTTERANCES) >= 35
    assert len({text for text, _ in UTTERANCES}) == len(UTTERANCES)


@pytest.mark.parametrize(("utterance", "expected"), UTTERANCES, ids=[u for u, _ in UTTERANCES])
def test_order_utterance_becomes_exactly_these_tool_calls(
    local: LocalProvider, utterance: str, expected: list[Call]
) -> None:
    completion = ask(local, utterance)

    assert calls_of(completion) == expected
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""


@pytest.mark.parametrize(
    "question",
    ["What are your opening hours?", "Do you deliver?", "where are you located", "I'm vegetarian"],
)
def test_questions_that_name_no_order_intent_make_no_tool_calls(
    local: LocalProvider, question: str
) -> None:
    completion = ask(local, question)

    assert completion.tool_calls == ()
    assert completion.finish_reason == "stop"
    assert completion.text


def test_no_tool_calls_are_made_when_no_tools_are_offered(local: LocalProvider) -> None:
    for utterance in ("two margheritas and a coke", "confirm", "what's in my order?"):
        completion = ask(local, utterance, tools=())

        assert completion.tool_calls == ()
        assert completion.finish_reason == "stop"


def test_only_tools_that_were_offered_are_called(local: LocalProvider) -> None:
    without_remove = tuple(tool for tool in PIZZERIA_TOOLS if tool is not REMOVE_FROM_ORDER)

    mixed = ask(local, "remove the coke and add a sprite", tools=without_remove)
    removal = ask(local, "remove the coke", tools=without_remove)
    browse = ask(local, "do you have something spicy?", tools=(ADD_TO_ORDER,))

    assert calls_of(mixed) == [add("DR-SPR")]
    assert removal.tool_calls == ()
    assert browse.tool_calls == ()


def test_a_plain_yes_confirms_when_the_assistant_just_asked_for_confirmation(
    local: LocalProvider,
) -> None:
    asked = (
        Message("user", "a coke"),
        Message("assistant", "Added 1 \u00d7 Coca-Cola. Say \u201cconfirm\u201d to place it."),
    )
    chatted = (Message("user", "hello"), Message("assistant", "Hello! What can I do for you?"))

    assert calls_of(ask(local, "yes please", history=asked)) == [CONFIRM]
    assert ask(local, "yes please", history=chatted).tool_calls == ()


def test_only_the_last_user_message_is_acted_upon(local: LocalProvider) -> None:
    history = (
        Message("user", "two margheritas"),
        Message("assistant", "Added 2 \u00d7 Margherita."),
    )

    assert calls_of(ask(local, "and a coke", history=history)) == [add("DR-COKE")]


def test_tool_call_ids_are_deterministic_and_distinct(local: LocalProvider) -> None:
    first = ask(local, "a coke and another coke")
    again = ask(local, "a coke and another coke")
    ids = [call.id for call in first.tool_calls]

    assert calls_of(first) == [add("DR-COKE"), add("DR-COKE")]
    assert ids == [call.id for call in again.tool_calls]
    assert len(set(ids)) == 2
    assert all(call_id.startswith("call_") for call_id in ids)


def test_the_catalog_is_read_from_the_tools_of_each_turn() -> None:
    from providers.adapters.local import catalog as catalogs

    tools = [SEARCH_CATALOG, ADD_TO_ORDER, REMOVE_FROM_ORDER]
    first = catalogs.catalog_from_tools(tools)
    tiramisu_only = {**PRODUCT, "x-catalog": [{"sku": "DS-TIR", "names": ["Tiramisu"]}]}
    changed = ToolSpec(
        "add_to_order",
        ADD_TO_ORDER.description,
        {**ADD_TO_ORDER.parameters, "properties": {"product": tiramisu_only}},
    )
    newer = catalogs.catalog_from_tools([SEARCH_CATALOG, changed])

    assert [product.sku for product in newer.products] == ["DS-TIR"]
    assert len(first.products) == len(PIZZERIA)
    assert catalogs.catalog_from_tools(list(tools)).products == first.products
