"""`manage.py reconcile_charges`: a chat whose server died after charging is refunded, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry, Wallet
from chat import pipeline
from chat.models import Message, RequestLog

pytestmark = pytest.mark.django_db


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("reconcile_charges", *args, stdout=out)
    return out.getvalue()


def abandoned_turn(user: User, text: str = "Are you open on Sunday?") -> pipeline.Turn:
    """A turn charged and stored as pending, whose worker then died before answering."""
    return pipeline.begin(user=user, text=text, client_ip="10.0.0.7")


def ledger(user: User) -> list[tuple[str, int, str]]:
    entries = LedgerEntry.objects.filter(wallet_id=user.pk).order_by("id")
    return [(e.kind, e.delta, e.reference) for e in entries]


def balance(user: User) -> int:
    return Wallet.objects.get(pk=user.pk).balance


def test_a_chat_abandoned_after_its_charge_is_refunded_under_the_charge_reference(user: User):
    turn = abandoned_turn(user)
    assert balance(user) == 3900

    output = reconcile("--older-than", "0")

    assert "Refunded 1 abandoned chat(s), 100 tokens in all." in output
    assert balance(user) == 4000
    assert ledger(user)[1:] == [
        ("chat_charge", -100, turn.reference),
        ("refund", 100, turn.reference),
    ]
    question = Message.objects.get(pk=turn.question_id)
    assert (question.status, question.tokens_charged) == ("failed", 0)
    log = RequestLog.objects.get(user=user)
    assert (log.status, log.error_code, log.request_text) == (
        "cancelled",
        "abandoned",
        "Are you open on Sunday?",
    )
    assert log.client_ip == "10.0.0.7" and log.tokens_charged == 0


def test_running_it_again_refunds_nothing_more(user: User):
    abandoned_turn(user)
    reconcile("--older-than", "0")

    assert "Refunded 0 abandoned chat(s)" in reconcile("--older-than", "0")
    assert balance(user) == 4000
    total = LedgerEntry.objects.filter(wallet_id=user.pk).aggregate(total=Sum("delta"))["total"]
    assert total == balance(user)


def test_a_turn_younger_than_the_threshold_may_still_be_answered_and_is_left_alone(user: User):
    turn = abandoned_turn(user)

    assert "Refunded 0 abandoned chat(s)" in reconcile()  # default: 15 minutes

    assert balance(user) == 3900
    assert Message.objects.get(pk=turn.question_id).status == "pending"


def test_answered_and_failed_chats_are_not_touched(user: User, user_api: APIClient):
    assert user_api.post("/api/chat/", {"message": "Hi"}, format="json").status_code == 200
    failed = abandoned_turn(user, "This one fails")
    pipeline._fail(failed, RuntimeError("boom"))
    before = ledger(user)

    assert "Refunded 0 abandoned chat(s)" in reconcile("--older-than", "0")
    assert ledger(user) == before
    assert balance(user) == 3900


def test_each_of_several_abandoned_chats_gets_its_own_charge_back(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    turns = [abandoned_turn(alice, "one"), abandoned_turn(bob, "two"), abandoned_turn(alice, "3")]

    assert "Refunded 3 abandoned chat(s), 300 tokens in all." in reconcile("--older-than", "0")

    refunds = LedgerEntry.objects.filter(kind="refund", wallet_id__in=[alice.pk, bob.pk])
    refunds = refunds.values_list("reference", flat=True)
    assert sorted(refunds) == sorted(turn.reference for turn in turns)
    assert balance(alice) == balance(bob) == 4000


def test_a_dry_run_only_counts(user: User):
    abandoned_turn(user)

    assert "Would refund 1 abandoned chat(s)." in reconcile("--older-than", "0", "--dry-run")
    assert balance(user) == 3900


def test_a_negative_age_is_refused():
    with pytest.raises(CommandError):
        reconcile("--older-than", "-1")
