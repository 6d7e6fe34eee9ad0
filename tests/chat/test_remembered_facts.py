"""What the customer asks the assistant to remember is acknowledged, and answered back in a
later conversation from that memory, never from an unrelated passage."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from retrieval import services as retrieval
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

HOUSE_RULES = (
    b"# Visiting us\n"
    b"Remember: dogs are welcome, and we keep water bowls by the door.\n"
    b"Our code of conduct asks guests to be kind to the staff.\n"
)


@pytest.fixture(autouse=True)
def house_rules(staff: User) -> None:
    """A shared document that shares words with the questions but answers none of them."""
    retrieval.document_upload(
        owner=staff, data=HOUSE_RULES, filename="rules.md", title="House rules", shared=True
    )


def say(api: APIClient, message: str, conversation: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation is not None:
        body["conversation"] = conversation
    response = api.post("/api/chat/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_fact_to_remember_is_acknowledged_in_the_customers_words(user_api: APIClient):
    answer = say(user_api, "remember that my garage code is 7391")

    assert answer["response"] == "Noted: your garage code is 7391."


def test_a_fact_told_in_one_conversation_is_answered_in_another(user_api: APIClient):
    told = say(user_api, "Please remember that my garage code is 7391.")

    asked = say(user_api, "what is my garage code?")

    assert asked["conversation"] != told["conversation"]
    assert asked["response"] == "Your garage code is 7391 (you told me in an earlier conversation)."


def test_a_fact_told_earlier_in_the_conversation_is_answered_from_it(user_api: APIClient):
    first = say(user_api, "my name is Ada")

    asked = say(user_api, "what's my name?", first["conversation"])

    assert asked["response"] == "Your name is Ada (you told me earlier in this conversation)."


def test_a_fact_never_told_is_not_answered_from_an_unrelated_passage(user_api: APIClient):
    answer = say(user_api, "what is my garage code?")

    assert "According to" not in answer["response"]
    assert answer["response"].startswith("I don't know your garage code")


def test_another_customers_fact_is_not_theirs_to_read(user_api: APIClient, make_user: Any):
    say(user_api, "remember that my garage code is 7391")

    answer = say(client_for(make_user("mallory")), "what is my garage code?")

    assert answer["response"].startswith("I don't know your garage code")
    assert "7391" not in answer["response"]
