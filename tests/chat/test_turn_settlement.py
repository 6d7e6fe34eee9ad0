"""A charged turn ends exactly once: answered and paid, or refunded, whoever gets there first
(the answer, a failure, or `reconcile_charges` cleaning up after a dead worker)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry, Wallet
from chat import context, pipeline
from chat.exceptions import TurnExpired
from chat.models import Message
from providers.types import ToolCall, ToolSpec
from tests.chat.conftest import parse_sse
from tests.providers.fakes import FakeOpenAI, FakeToolCall, Reply

pytestmark = pytest.mark.django_db


def reconcile() -> None:
    call_command("reconcile_charges", "--older-than", "0", stdout=StringIO())


def ledger(user: User) -> list[tuple[str, int, str]]:
    entries = LedgerEntry.objects.filter(wallet_id=user.pk).order_by("id")
    return [(e.kind, e.delta, e.reference) for e in entries][1:]  # after the signup grant


def assert_balanced(user: User, expected: int) -> None:
    total = LedgerEntry.objects.filter(wallet_id=user.pk).aggregate(total=Sum("delta"))["total"]
    assert Wallet.objects.get(pk=user.pk).balance == total == expected


def test_a_question_carries_its_charges_reference_and_is_refunded_under_it(user: User):
    turn = pipeline.begin(user=user, text="Are you open on Sunday?")
    question = Message.objects.get(pk=turn.question_id)
    assert question.reference == turn.reference
    # Hours from its charge: pairing by time would find nothing; the reference still does.
    Message.objects.filter(pk=question.pk).update(
        created_at=question.created_at - timedelta(hours=2)
    )

    reconcile()

    assert ledger(user) == [("chat_charge", -100, turn.reference), ("refund", 100, turn.reference)]


def test_an_answer_after_reconcile_refunded_its_turn_is_not_recorded(user: User):
    turn = pipeline.begin(user=user, text="Are you open on Sunday?")
    reconcile()  # the worker looked dead

    with pytest.raises(TurnExpired):
        pipeline.answer(turn)

    assert not Message.objects.filter(role="assistant").exists()
    assert Message.objects.get(pk=turn.question_id).status == "failed"
    assert ledger(user) == [("chat_charge", -100, turn.reference), ("refund", 100, turn.reference)]
    assert_balanced(user, 4000)


def test_a_free_cache_hit_is_refunded_once_even_when_reconcile_refunded_it_too(
    user: User, settings: Any
):
    settings.CHAT_CHARGE_CACHE_HITS = False
    pipeline.answer(pipeline.begin(user=user, text="hello"))  # primes the cache
    turn = pipeline.begin(user=user, text="hello")
    reconcile()

    with pytest.raises(TurnExpired):
        pipeline.answer(turn)

    assert [kind for kind, _, reference in ledger(user) if reference == turn.reference] == [
        "chat_charge",
        "refund",
    ]
    assert_balanced(user, 3900)


class _BrokenToolbox:
    """A toolbox whose tool fails in a way nobody planned for."""

    def __init__(self, *made_for: Any) -> None:
        pass

    def specs(self) -> Sequence[ToolSpec]:
        return [ToolSpec("check_stock", "How many are left.")]

    def execute(self, call: ToolCall) -> Mapping[str, Any]:
        raise RuntimeError("stock service exploded")


def test_a_tool_failing_unexpectedly_after_text_was_streamed_ends_in_an_error_and_a_refund(
    user: User, user_api: APIClient, openai_model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(context, "TOOLBOXES", [*context.TOOLBOXES, _BrokenToolbox])
    openai_model.enqueue(
        Reply(text="Let me check the stock.", tool_calls=[FakeToolCall("check_stock", {})])
    )

    response = user_api.post(
        "/api/chat/", {"message": "Any calzone left?", "stream": True}, format="json"
    )
    events = parse_sse(response)

    assert "".join(e[1]["text"] for e in events if e[0] == "delta") == "Let me check the stock."
    name, body = events[-1]
    assert name == "error"
    assert body == {
        "detail": "Internal server error.",
        "code": "server_error",
        "tokens_remaining": 4000,
    }
    assert Message.objects.get(role="user").status == "failed"
    assert not Message.objects.filter(role="assistant").exists()
    assert [kind for kind, _, _ in ledger(user)] == ["chat_charge", "refund"]
    assert_balanced(user, 4000)
