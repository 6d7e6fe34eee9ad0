"""Reads of balances and ledgers."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from billing.models import LedgerEntry, Wallet


def balance_of(*, user: AbstractBaseUser) -> int:
    """The user's balance; a user who never had a wallet has 0 tokens."""
    balance = Wallet.objects.filter(pk=user.pk).values_list("balance", flat=True).first()
    return balance or 0


def ledger_of(*, user: AbstractBaseUser) -> QuerySet[LedgerEntry]:
    """The user's ledger entries, newest first."""
    return (
        LedgerEntry.objects.filter(wallet_id=user.pk).select_related("created_by").order_by("-id")
    )
