"""A wallet per user and the append-only ledger whose deltas always sum to its balance."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from billing.exceptions import LedgerIsAppendOnly


class Wallet(models.Model):
    """A user's token balance. Only `billing.services` changes it, always with a ledger entry."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="wallet"
    )
    balance = models.BigIntegerField(default=0)
    # Set when a charge took the balance under LOW_BALANCE_THRESHOLD (the alert went out);
    # a credit that lifts it back over re-arms it. So one alert per crossing.
    low_balance_alerted = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(balance__gte=0), name="wallet_balance_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.balance} tokens)"


class LedgerQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise LedgerIsAppendOnly("Ledger entries cannot be updated.")

    def relabel(self, username: str) -> int:
        """Rewrite the entries' copied username, the one column that may change: it names a
        person, who may be erased; amounts, balances, kinds and dates never change."""
        return super().update(username=username)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise LedgerIsAppendOnly("Ledger entries cannot be deleted.")


class LedgerEntry(models.Model):
    """One change of a balance. Rows are only ever inserted; `balance_after` makes audits cheap."""

    class Kind(models.TextChoices):
        SIGNUP_GRANT = "signup_grant", "Signup grant"
        CHAT_CHARGE = "chat_charge", "Chat charge"
        REFUND = "refund", "Refund"
        # Under usage pricing: what a chat held and did not use, given back with its answer.
        SETTLE = "settle", "Settlement"
        TOP_UP = "top_up", "Top-up"
        ADJUSTMENT = "adjustment", "Adjustment"

    # Indexed by ledger_wallet_newest, whose first column it is.
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    # Copied for audit, so an entry still says whose it was if the user is renamed.
    username = models.CharField(max_length=150)
    delta = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(max_length=100, blank=True, default="")
    # A chat's charge and refund: the model it was priced for ("openai/gpt-4o").
    model = models.CharField(max_length=141, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ("-id",)
        # Crediting wallets is its own right, not something every staff account may do.
        permissions = (("top_up", "Can top up wallets"),)
        indexes: ClassVar = [
            models.Index(fields=["wallet", "-id"], name="ledger_wallet_newest"),
            # A user's usage report: their entries in a date range.
            models.Index(fields=["wallet", "created_at"], name="ledger_wallet_time"),
            models.Index(fields=["kind", "reference"], name="ledger_kind_reference"),
            # The admin's newest-first pages, filtered by date or kind.
            models.Index(fields=["created_at", "id"], name="ledger_recent"),
            models.Index(fields=["kind", "created_at", "id"], name="ledger_kind_recent"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="ledger_balance_after_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta:+d} → {self.balance_after} ({self.username})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise LedgerIsAppendOnly("Ledger entries cannot be edited; add a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise LedgerIsAppendOnly("Ledger entries cannot be deleted.")
