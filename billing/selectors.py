"""Reads of balances and ledgers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate

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


# The columns of a report's rows, per grouping (for a CSV of no rows, too).
USAGE_COLUMNS = {
    "day": ["day"],
    "model": ["model"],
    "user": ["user_id", "user"],
}
USAGE_SUMS = ["chats", "refunds", "tokens_charged", "tokens_refunded", "tokens_spent"]


def usage(
    *, since: datetime, until: datetime, group_by: str, wallet_id: int | None = None
) -> QuerySet[Any, Any]:
    """Chats charged and refunded in [since, until), summed per UTC day, model or user (one
    user's, with ``wallet_id``), in group order.

    Rows: the group's key (`day`, `model`, or `user_id` and `user`), `chats` (charges),
    `refunds`, `tokens_charged`, `tokens_refunded` (refunds, and the unused part of usage
    pricing's holds) and `tokens_spent` (charged less refunded).
    Read from the ledger itself (through an index on the wallet for one user, on created_at
    across users), so a report always agrees with the balances.
    """
    returned = (LedgerEntry.Kind.REFUND, LedgerEntry.Kind.SETTLE)
    entries = LedgerEntry.objects.filter(
        kind__in=(LedgerEntry.Kind.CHAT_CHARGE, *returned),
        created_at__gte=since,
        created_at__lt=until,
    )
    if wallet_id is not None:
        entries = entries.filter(wallet_id=wallet_id)
    charge, refund = Q(kind=LedgerEntry.Kind.CHAT_CHARGE), Q(kind=LedgerEntry.Kind.REFUND)
    given_back = Q(kind__in=returned)
    grouped: QuerySet[Any, Any]
    if group_by == "day":
        grouped, key = (
            entries.annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day"),
            "day",
        )
    elif group_by == "model":
        grouped, key = entries.values("model"), "model"
    else:
        grouped, key = entries.values(user_id=F("wallet_id")), "user_id"
    rows = grouped.annotate(
        chats=Count("id", filter=charge),
        refunds=Count("id", filter=refund),
        tokens_charged=Coalesce(Sum(-F("delta"), filter=charge), 0),
        tokens_refunded=Coalesce(Sum("delta", filter=given_back), 0),
    ).annotate(tokens_spent=F("tokens_charged") - F("tokens_refunded"))
    if group_by == "user":
        rows = rows.annotate(user=Max("username"))
    return rows.order_by(key)
