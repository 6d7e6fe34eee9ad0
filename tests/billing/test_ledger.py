"""The ledger is append-only and always explains the balance; a short wallet is never charged."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing
from billing.exceptions import InsufficientTokens, InvalidAmount, LedgerIsAppendOnly
from billing.models import LedgerEntry, Wallet
from core.errors import exception_handler

pytestmark = pytest.mark.django_db


def test_a_charge_beyond_the_balance_raises_and_writes_nothing(user: User):
    billing.charge(user=user, amount=3950)

    with pytest.raises(InsufficientTokens) as caught:
        billing.charge(user=user, amount=100)

    assert (caught.value.balance, caught.value.required) == (50, 100)
    assert Wallet.objects.get(pk=user.pk).balance == 50
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == 2


def test_insufficient_tokens_maps_to_402_with_balance_and_cost():
    response = exception_handler(InsufficientTokens(balance=50, required=100), {})

    assert response is not None and response.status_code == 402
    assert response.data == {
        "detail": "Not enough tokens: 100 required, 50 available.",
        "code": "insufficient_tokens",
        "tokens": 50,
        "required": 100,
    }


@pytest.mark.parametrize("amount", [0, -1, 2.5, True, "100"])
def test_services_refuse_amounts_that_are_not_positive_integers(user: User, amount: Any):
    for service in (billing.charge, billing.refund, billing.grant):
        with pytest.raises(InvalidAmount):
            service(user=user, amount=amount)
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == 1


def test_top_up_refuses_more_than_the_maximum(user: User, staff: User, settings: object):
    with pytest.raises(InvalidAmount):
        billing.top_up(user=user, amount=1_000_001, by=staff)


def test_ledger_entries_cannot_be_edited_or_deleted(user: User):
    entry = LedgerEntry.objects.get(wallet_id=user.pk)
    entry.delta = 1_000_000

    with pytest.raises(LedgerIsAppendOnly):
        entry.save()
    with pytest.raises(LedgerIsAppendOnly):
        entry.delete()
    with pytest.raises(LedgerIsAppendOnly):
        LedgerEntry.objects.all().delete()
    with pytest.raises(LedgerIsAppendOnly):
        LedgerEntry.objects.update(delta=0)
    assert LedgerEntry.objects.get(pk=entry.pk).delta == 4000


def test_the_database_refuses_a_negative_balance(user: User):
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=user.pk).update(balance=-1)


def test_a_user_made_outside_registration_has_zero_tokens_and_can_be_topped_up(
    staff: User, staff_api: APIClient
):
    outsider = User.objects.create_user(username="outsider", password="x-long-password")

    with pytest.raises(InsufficientTokens):
        billing.charge(user=outsider, amount=1)
    response = staff_api.post(
        "/api/admin/top-ups/", {"username": "outsider", "amount": 300}, format="json"
    )

    assert response.json()["tokens"] == 300
    assert Wallet.objects.get(pk=outsider.pk).balance == 300
