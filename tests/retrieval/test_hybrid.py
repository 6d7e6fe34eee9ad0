"""Hybrid search with the default embedder: paraphrases through the vectors, exact terms through
the database's full-text search, the same visibility rules in both, and the relevance floor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from retrieval import lexical
from tests.conftest import client_for
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db

KNOWLEDGE = {
    "pets.txt": "Dogs and other pets are welcome inside; we keep water bowls by the door.",
    "delivery.txt": "Delivery costs 2.50 EUR within 5 km and nothing on orders above 25 EUR.",
    "gluten.txt": "Gluten-free bases are baked on a separate tray for guests with coeliac disease.",
    "hamper-1.txt": "Christmas hamper HM-1224: panettone, olive oil and a bottle of red wine.",
    "hamper-2.txt": "Christmas hamper HM-3107: panettone, a jar of honey and white wine.",
    "hamper-3.txt": "Christmas hamper HM-5581: panettone, biscotti and a bottle of prosecco.",
    "hours.txt": "We open from noon until eleven at night, every day but Monday.",
}


@pytest.fixture(autouse=True)
def _default_embedder(settings: Any) -> None:
    settings.EMBEDDER = "wordllama"
    settings.RETRIEVAL_MIN_SCORE = None  # the embedder's own floor
    settings.RETRIEVAL_HYBRID = True


@pytest.fixture
def knowledge(staff_api: APIClient) -> dict[str, int]:
    return {
        name: upload(staff_api, name, text, shared="true").json()["id"]
        for name, text in KNOWLEDGE.items()
    }


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("can I bring my puppy?", "pets.txt"),
        ("do you charge for shipping?", "delivery.txt"),
        ("I'm celiac, what can I eat?", "gluten.txt"),
    ],
)
def test_a_paraphrase_sharing_no_word_with_its_answer_finds_it(
    user_api: APIClient, knowledge: dict[str, int], question: str, answer: str
) -> None:
    hits = search(user_api, question, k=3)

    assert knowledge[answer] in [hit["document"] for hit in hits]


def test_an_exact_product_code_ranks_its_passage_first_only_with_the_full_text_ranking(
    user_api: APIClient, knowledge: dict[str, int], settings: Any
) -> None:
    asked = {f"what is in {code}?": f"hamper-{n}.txt" for n, code in
             enumerate(("HM-1224", "HM-3107", "HM-5581"), start=1)}  # fmt: skip

    def firsts() -> list[bool]:
        return [
            search(user_api, question, k=3)[0]["document"] == knowledge[answer]
            for question, answer in asked.items()
        ]

    assert firsts() == [True, True, True]
    settings.RETRIEVAL_HYBRID = False
    assert not all(firsts())  # the vectors alone blur the codes


def test_the_full_text_ranking_never_finds_another_users_private_chunk(
    user_api: APIClient, make_user: Callable[..., User], knowledge: dict[str, int]
) -> None:
    bob = client_for(make_user("bob"))
    secret = upload(bob, "locker.txt", "Locker QX-9911 holds Bob's spare keys.").json()["id"]

    mine = search(user_api, "QX-9911", k=5)
    his = search(bob, "QX-9911", k=5)

    assert secret not in [hit["document"] for hit in mine]
    assert his[0]["document"] == secret


def test_a_question_nothing_answers_gets_no_passage(
    user_api: APIClient, knowledge: dict[str, int]
) -> None:
    assert search(user_api, "what is the capital of Mongolia?", k=3) == []


def test_the_question_becomes_every_content_word_or_any_identifier() -> None:
    words = lexical.terms("Is the hamper HM-1224 still available?")

    assert words == ["hamper", "hm", "1224", "still", "available"]
    assert lexical.identifiers(words) == ["1224"]
    assert lexical.terms("is it?") == ["is", "it"]  # only stopwords: keep them


def test_words_in_more_chunks_than_the_cap_are_left_to_the_vectors(
    knowledge: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def ranked(word: str) -> list[int]:
        return lexical.ranked(
            [word], scopes=["shared"], kinds=["document"], user_id=None,
            exclude_conversation=None, k=10,
        )  # fmt: skip

    assert len(ranked("panettone")) == 3
    monkeypatch.setattr(lexical, "MAX_MATCHES", 2)
    assert ranked("panettone") == []  # three chunks have it: too common to rank
    assert len(ranked("biscotti")) == 1
