"""The offline assistant answers from the shop's documents, relays tool results and embeds text."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from providers.adapters.local import LocalProvider
from providers.adapters.local.answers import _first_mention, matches
from providers.base import ProviderConfig
from providers.text import content_stems, count_tokens
from providers.types import (
    Completion,
    Message,
    Options,
    Passage,
    Prompt,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from tests.providers.test_local_intents import PIZZERIA_TOOLS

FAQ = Passage(
    source="Shop FAQ",
    text=(
        "# Opening hours\n"
        "We are open from 11:00 to 22:00 every day. On public holidays we close at 20:00.\n\n"
        "## Delivery\n"
        "We deliver within 5 km of the shop. Delivery is free for orders over 25 EUR; "
        "otherwise it costs 2.50 EUR."
    ),
    score=0.31,
)
MENU = Passage(
    source="Menu",
    text=(
        "Diavola: tomato, mozzarella, spicy salami and chili. 11.50 EUR.\n"
        "Vegetariana: grilled vegetables and mozzarella. 10.50 EUR."
    ),
    score=0.52,
)
ALLERGENS = Passage(
    source="Allergens",
    text=(
        "Q: Can I get a gluten-free base?\n"
        "A: Every pizza can be made on a gluten-free base for 2 EUR extra. "
        "Please tell us about allergies when ordering."
    ),
    score=0.12,
)
MEMORY = Passage(
    source="conversation 3",
    text="User: Do you deliver to Oak Street?\nAssistant: We deliver within 5 km of the shop.",
    score=0.4,
    kind="memory",
)
DOCUMENTS = (FAQ, MENU, ALLERGENS)


@pytest.fixture(scope="module")
def local() -> LocalProvider:
    config = ProviderConfig(name="local", default_model="tally-local-1", models=("tally-local-1",))
    return LocalProvider(config)


def prompt(text: str, *, history: tuple[Message, ...] = (), **extra: Any) -> Prompt:
    return Prompt(messages=[*history, Message("user", text)], **extra)


@pytest.mark.parametrize("greeting", ["hi", "Hello!", "good morning", "hey there"])
def test_a_greeting_gets_a_friendly_answer_saying_what_the_assistant_can_do(
    local: LocalProvider, greeting: str
) -> None:
    completion = local.complete(prompt(greeting, passages=DOCUMENTS, tools=PIZZERIA_TOOLS))

    assert completion.text.startswith("Hello!")
    for ability in ("questions", "documents", "order", "confirm", "cancel"):
        assert ability in completion.text
    assert completion.tool_calls == ()


@pytest.mark.parametrize("request_for_help", ["help", "What can you do?", "hi, what can you do"])
def test_asking_for_help_explains_documents_and_ordering(
    local: LocalProvider, request_for_help: str
) -> None:
    completion = local.complete(prompt(request_for_help, tools=PIZZERIA_TOOLS))

    assert "documents" in completion.text
    assert "take your order" in completion.text
    assert "Margherita Pizza" in completion.text  # the example comes from the real catalog


def test_wanting_to_order_gets_an_invitation_with_a_catalog_example(
    local: LocalProvider,
) -> None:
    completion = local.complete(prompt("I'd like to place an order", tools=PIZZERIA_TOOLS))

    assert completion.text.startswith("Sure! What would you like?")
    assert "Margherita Pizza" in completion.text
    assert completion.tool_calls == ()


@pytest.mark.parametrize(
    ("question", "source", "quoted"),
    [
        ("When are you open?", "Shop FAQ", "We are open from 11:00 to 22:00 every day."),
        ("Do you deliver?", "Shop FAQ", "We deliver within 5 km of the shop."),
        ("What's on the Diavola?", "Menu", "Diavola: tomato, mozzarella, spicy salami and chili."),
        ("Is a gluten-free base possible?", "Allergens", "made on a gluten-free base"),
    ],
)
def test_questions_are_answered_by_quoting_the_right_passage_and_naming_its_source(
    local: LocalProvider, question: str, source: str, quoted: str
) -> None:
    completion = local.complete(prompt(question, passages=DOCUMENTS))

    assert completion.text.startswith(f'According to "{source}": ')
    assert quoted in completion.text
    assert completion.finish_reason == "stop"


def test_an_answer_quotes_only_the_sentences_that_are_relevant(local: LocalProvider) -> None:
    text = local.complete(prompt("When are you open?", passages=DOCUMENTS)).text

    assert text == 'According to "Shop FAQ": We are open from 11:00 to 22:00 every day.'


def test_up_to_two_relevant_sentences_of_the_best_passage_are_quoted(
    local: LocalProvider,
) -> None:
    text = local.complete(prompt("How much does delivery cost?", passages=DOCUMENTS)).text

    assert text == (
        'According to "Shop FAQ": We deliver within 5 km of the shop. Delivery is free for '
        "orders over 25 EUR; otherwise it costs 2.50 EUR."
    )


def test_the_retrievers_score_breaks_a_tie_between_equally_relevant_passages(
    local: LocalProvider,
) -> None:
    old = Passage("Old flyer", "We close at 21:00 on Sundays.", score=0.2)
    new = Passage("New flyer", "We close at 23:00 on Sundays.", score=0.9)

    for passages in ((old, new), (new, old)):
        text = local.complete(prompt("When do you close on Sundays?", passages=passages)).text
        assert text == 'According to "New flyer": We close at 23:00 on Sundays.'


def test_a_run_on_passage_is_quoted_around_its_match_on_whole_words(
    local: LocalProvider,
) -> None:
    filler = " ".join(f"item{number} costs {number} EUR" for number in range(60))
    row = Passage("Price list", f"{filler} tiramisu costs 6 EUR {filler}", score=0.5)

    text = local.complete(prompt("How much is the tiramisu?", passages=(row,))).text

    quote = text.removeprefix('According to "Price list": ')
    assert quote.startswith("\u2026") and quote.endswith("\u2026")
    words = quote.strip("\u2026").split()
    assert words[8:10] == ["tiramisu", "costs"]  # eight words lead up to the match
    assert all(word in row.text.split() for word in words)
    assert len(" ".join(words)) <= 320 < len(" ".join([*words, "x" * 12]))


def test_it_says_honestly_when_the_documents_do_not_cover_the_question(
    local: LocalProvider,
) -> None:
    completion = local.complete(prompt("What's the weather in Paris?", passages=DOCUMENTS))

    assert completion.text.startswith("I'm sorry, I don't know that from the shop's documents.")
    assert "According to" not in completion.text


def test_without_any_passages_it_does_not_invent_an_answer(local: LocalProvider) -> None:
    assert "don't know" in local.complete(prompt("When are you open?")).text


def test_the_users_past_exchanges_answer_what_did_i_ask_before(local: LocalProvider) -> None:
    completion = local.complete(
        prompt("What did I ask you before about delivery?", passages=(*DOCUMENTS, MEMORY))
    )

    assert completion.text == (
        'Earlier you asked: "Do you deliver to Oak Street?" '
        'I answered: "We deliver within 5 km of the shop."'
    )


def test_memories_are_not_quoted_as_shop_documents(local: LocalProvider) -> None:
    completion = local.complete(prompt("Oak Street?", passages=(MEMORY,)))

    assert "Oak Street" not in completion.text


def test_what_did_i_just_say_quotes_the_previous_user_message(local: LocalProvider) -> None:
    history = (
        Message("user", "Do you have parking?"),
        Message("assistant", "I'm sorry, I don't know that from the shop's documents."),
    )

    completion = local.complete(prompt("What did I just ask?", history=history))

    assert completion.text == 'You just asked: "Do you have parking?"'


def tool_turn(call: ToolCall, result: dict[str, Any]) -> Message:
    return Message("tool", json.dumps(result), tool_call_id=call.id, name=call.name)


def test_after_a_tool_turn_it_relays_the_tools_messages_and_calls_nothing_more(
    local: LocalProvider,
) -> None:
    first = local.complete(prompt("two pepperoni and a coke", tools=PIZZERIA_TOOLS))
    pepperoni, coke = first.tool_calls
    order = {"number": 17, "status": "draft", "items": [], "total": "25.50"}
    history = [
        Message("user", "two pepperoni and a coke"),
        Message("assistant", "", tool_calls=first.tool_calls),
        tool_turn(
            pepperoni, {"ok": True, "message": "Added 2 \u00d7 Pepperoni Pizza.", "order": order}
        ),
        tool_turn(coke, {"ok": True, "message": "Added 1 \u00d7 Coca-Cola.", "order": order}),
    ]

    second = local.complete(Prompt(messages=history, tools=PIZZERIA_TOOLS))

    assert second.tool_calls == ()
    assert second.finish_reason == "stop"
    assert second.text.startswith("Added 2 \u00d7 Pepperoni Pizza. Added 1 \u00d7 Coca-Cola.")
    assert "confirm" in second.text


def test_a_confirmation_relays_the_order_number_and_summary(local: LocalProvider) -> None:
    confirm = ToolCall("call_1", "confirm_order", {})
    message = (
        "Order #17 is confirmed: 2 \u00d7 Pepperoni Pizza, 1 \u00d7 Coca-Cola. Total 25.50 EUR."
    )
    order = {"number": 17, "status": "confirmed", "total": "25.50"}
    history = [
        Message("user", "confirm"),
        Message("assistant", "", tool_calls=(confirm,)),
        tool_turn(confirm, {"ok": True, "message": message, "order": order}),
    ]

    completion = local.complete(Prompt(messages=history, tools=PIZZERIA_TOOLS))

    assert completion.text == message


def test_a_failed_tool_is_relayed_too(local: LocalProvider) -> None:
    add = ToolCall("call_1", "add_to_order", {"product": "PZ-XXX", "quantity": 1})
    history = [
        Message("user", "a calzone"),
        Message("assistant", "", tool_calls=(add,)),
        tool_turn(add, {"ok": False, "message": "We don't sell that product."}),
    ]

    assert local.complete(Prompt(messages=history)).text == "We don't sell that product."


def test_usage_counts_what_was_read_and_written(local: LocalProvider) -> None:
    question = prompt("When are you open?", system="You are Tally.", passages=DOCUMENTS)

    completion = local.complete(question)

    assert completion.usage.completion_tokens == count_tokens(completion.text)
    expected_read = (
        count_tokens("You are Tally.")
        + sum(count_tokens(p.source) + count_tokens(p.text) for p in DOCUMENTS)
        + 1  # the message's role
        + count_tokens("When are you open?")
    )
    assert completion.usage.prompt_tokens == expected_read


def _schema_tokens(tool: ToolSpec) -> int:
    schema = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return count_tokens(json.dumps(schema, sort_keys=True, default=str))


def test_the_tool_schemas_are_counted_again_when_the_tools_change(local: LocalProvider) -> None:
    bare = local.complete(prompt("hi")).usage.prompt_tokens
    tools = list(PIZZERIA_TOOLS)
    with_tools = bare + sum(_schema_tokens(tool) for tool in tools)

    for _ in range(2):  # the same specs, counted the same each time
        assert local.complete(prompt("hi", tools=tools)).usage.prompt_tokens == with_tools

    # A new catalog makes new specs: a longer description is counted.
    longer = replace(tools[0], description=tools[0].description + " Now with tiramisu.")
    changed = [longer, *tools[1:]]
    assert local.complete(prompt("hi", tools=changed)).usage.prompt_tokens == (
        with_tools + _schema_tokens(longer) - _schema_tokens(tools[0])
    )
    assert _schema_tokens(longer) > _schema_tokens(tools[0])


def test_usage_grows_with_the_prompt_and_counts_the_tools(local: LocalProvider) -> None:
    bare = local.complete(prompt("hi")).usage
    with_passages = local.complete(prompt("hi", passages=DOCUMENTS)).usage
    with_tools = local.complete(prompt("hi", passages=DOCUMENTS, tools=PIZZERIA_TOOLS)).usage

    assert 0 < bare.prompt_tokens < with_passages.prompt_tokens < with_tools.prompt_tokens
    assert bare.completion_tokens > 0


def test_tool_calls_count_as_written_tokens(local: LocalProvider) -> None:
    completion = local.complete(prompt("two margheritas", tools=PIZZERIA_TOOLS))

    assert completion.text == ""
    assert completion.usage.completion_tokens > 0


def test_streamed_deltas_join_to_the_text_and_end_with_the_same_completion(
    local: LocalProvider,
) -> None:
    question = prompt("Do you deliver?", passages=DOCUMENTS)

    events = list(local.stream(question))

    deltas, final = events[:-1], events[-1]
    assert len(deltas) > 5
    assert all(isinstance(delta, TextDelta) for delta in deltas)
    assert all(len(delta.text.split()) == 1 for delta in deltas)  # word-sized pieces
    assert isinstance(final, Completion)
    assert "".join(delta.text for delta in deltas) == final.text
    assert final == local.complete(question)


def test_a_streamed_tool_call_yields_no_text_only_the_completion(local: LocalProvider) -> None:
    events = list(local.stream(prompt("a coke", tools=PIZZERIA_TOOLS)))

    assert len(events) == 1
    final = events[0]
    assert isinstance(final, Completion)
    assert final.finish_reason == "tool_calls"
    assert [call.name for call in final.tool_calls] == ["add_to_order"]


def test_answers_are_deterministic(local: LocalProvider) -> None:
    for text in ("Do you deliver?", "two margheritas and a coke", "hello"):
        question = prompt(text, passages=DOCUMENTS, tools=PIZZERIA_TOOLS)
        assert local.complete(question) == local.complete(question)


def test_the_completion_names_the_provider_and_the_model(local: LocalProvider) -> None:
    default = local.complete(prompt("hi"))
    chosen = local.complete(prompt("hi"), model="tally-local-1")

    assert (default.provider, default.model) == ("local", "tally-local-1")
    assert chosen.model == "tally-local-1"


def test_hashing_embeddings_are_normalised_float32_rows(local: LocalProvider) -> None:
    vectors = local.embed(["We are open every day.", "Pepperoni pizza", ""])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, rtol=1e-5)
    assert not vectors[2].any()  # an empty text embeds as zeros


ORDER_WORDS = st.sampled_from(
    "a an two 3x x3 0 1000 and , . ? no with without remove cancel confirm my order coke "
    "pepperoni margherita the of dozen couple half take off swap for instead what's in do you "
    "have spicy hi help what did i ask before just".split()
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(ORDER_WORDS, max_size=12).map(" ".join)))
def test_any_message_gets_an_answer_or_tool_calls_the_tools_accept(text: str) -> None:
    config = ProviderConfig(name="local", default_model="tally-local-1", models=("tally-local-1",))
    question = prompt(text, passages=DOCUMENTS, tools=PIZZERIA_TOOLS)

    completion = LocalProvider(config).complete(question)

    assert bool(completion.text) != bool(completion.tool_calls)
    for call in completion.tool_calls:
        assert 1 <= call.arguments.get("quantity", 1) <= 999
        if call.name == "add_to_order":
            assert isinstance(call.arguments["quantity"], int)


@pytest.mark.parametrize(
    ("said", "name"),
    [("Hello! My name is John.", "John"), ("call me Ada Lovelace", "Ada Lovelace")],
)
def test_an_introduction_is_answered_by_name(said: str, name: str):
    from providers.adapters.local import LocalProvider
    from providers.base import ProviderConfig
    from providers.types import Message, Prompt

    provider = LocalProvider(
        ProviderConfig(name="local", default_model="tally-local-1", models=("tally-local-1",))
    )
    answer = provider.complete(Prompt(messages=[Message(role="user", content=said)])).text

    assert answer.startswith(f"Nice to meet you, {name}!")


def test_being_hungry_is_not_a_name():
    from providers.adapters.local.smalltalk import smalltalk_reply

    assert smalltalk_reply("I'm hungry", [], can_order=True) is None


def test_a_hard_wrapped_sentence_is_quoted_whole():
    from providers.adapters.local import LocalProvider
    from providers.base import ProviderConfig
    from providers.types import Message, Passage, Prompt

    faq = Passage(
        source="Shop FAQ",
        text="## Delivery\nWe deliver within 5 km of the shop, which covers the old\n"
        "harbour. Delivery is free for orders over 25 EUR.",
        score=0.5,
    )
    provider = LocalProvider(
        ProviderConfig(name="local", default_model="tally-local-1", models=("tally-local-1",))
    )
    prompt = Prompt(messages=[Message(role="user", content="Do you deliver to the harbour?")])

    answer = provider.complete(replace(prompt, passages=[faq])).text

    assert "which covers the old harbour." in answer


_STEMS = st.text(alphabet="abde", min_size=1, max_size=8)


@given(term=_STEMS, stems=st.lists(_STEMS, max_size=12))
@settings(max_examples=300, deadline=None)
def test_a_sentences_stems_match_as_any_stems_do(term: str, stems: list[str]) -> None:
    # A sentence's stems (a frozenset) are matched as any other collection of stems.
    # "deliver" meets "delivery", "open" does not meet "opera".
    assert matches(term, frozenset(stems)) == matches(term, stems)
    assert matches("deliver", frozenset({"delivery"})) and matches("delivery", frozenset({"deliv"}))
    assert not matches("open", frozenset({"opera"}))


_WORDS = st.text(alphabet="abdes", min_size=1, max_size=9)


@given(pieces=st.lists(_WORDS, max_size=30), terms=st.lists(_STEMS, max_size=6))
@example(pieces=["we", "bring", "it", "by", "delivery"], terms=["deliver"])  # a prefix, late
@example(pieces=["we", "deliver"], terms=["delivery", "de"])  # the stem is the prefix
@example(pieces=["de", "deli"], terms=["delivery"])  # too short to be a prefix: no match
@example(pieces=["bbbbbb", "aaaaa"], terms=["aaaaaa"])  # a term one letter longer
@settings(max_examples=300, deadline=None)
def test_a_clip_starts_from_the_first_piece_a_question_term_matches(
    pieces: list[str], terms: list[str]
) -> None:
    by_definition = next(
        (
            position
            for position, piece in enumerate(pieces)
            if any(matches(term, content_stems(piece)) for term in terms)
        ),
        0,
    )
    assert _first_mention(pieces, terms) == by_definition


def test_a_clip_starts_at_a_late_word_the_term_is_a_prefix_of() -> None:
    assert _first_mention(["we", "bring", "it", "by", "delivery"], ["deliver"]) == 4


def test_a_remembered_fact_is_read_from_what_the_customer_said_not_from_the_answer(
    local: LocalProvider,
) -> None:
    told = Passage(
        "Earlier conversation",
        "Q: remember that my garage code is 7391\nA: Noted: your garage code is 1234.",
        score=0.3,
        kind="memory",
    )
    unrelated = Passage("House rules", "Remember: our code of conduct asks guests to be kind.")

    text = local.complete(prompt("What's my garage code?", passages=(unrelated, told))).text

    assert text == "Your garage code is 7391 (you told me in an earlier conversation)."


def test_stop_sequences_and_max_tokens_cut_the_answer_as_openai_does() -> None:
    provider = LocalProvider(ProviderConfig("local", "tally-local-1", ("tally-local-1",)))
    hours = Passage("hours.md", "We open at 9 every day and close at 22 on weekdays.")
    asked = Prompt(messages=[Message("user", "When do you open?")], passages=[hours])
    whole = provider.complete(asked).text

    stopped = provider.complete(replace(asked, options=Options(stop=("every",))))
    short = provider.complete(replace(asked, options=Options(max_tokens=3)))

    assert "every" in whole
    assert stopped.text == whole[: whole.index("every")]
    assert stopped.finish_reason == "stop"
    assert whole.startswith(short.text) and 0 < count_tokens(short.text) <= 3
    assert (short.finish_reason, short.usage.completion_tokens) == (
        "length",
        count_tokens(short.text),
    )


def test_json_modes_and_forced_tool_calls_are_refused_by_name() -> None:
    provider = LocalProvider(ProviderConfig("local", "tally-local-1", ("tally-local-1",)))
    forced = {"type": "function", "function": {"name": "add_to_order"}}

    assert provider.unsupported(Options(response_format={"type": "json_object"}), ()) == (
        "response_format"
    )
    assert provider.unsupported(Options(tool_choice=forced), ()) == "tool_choice"
    assert provider.unsupported(Options(tool_choice="required"), ()) == "tool_choice"
    assert provider.unsupported(Options(temperature=0.1, tool_choice="none"), ()) is None
