"""Billing's domain errors; `config.errors` maps them to HTTP."""

from __future__ import annotations


class BillingError(Exception):
    """Base of every billing error."""


class InsufficientTokens(BillingError):
    """The wallet cannot pay for this; nothing was charged (HTTP 402)."""

    def __init__(self, *, balance: int, required: int) -> None:
        super().__init__(f"Not enough tokens: {required} required, {balance} available.")
        self.balance = balance
        self.required = required


class InvalidAmount(BillingError):
    """An amount was not a positive integer within the allowed range (HTTP 400)."""


class LedgerIsAppendOnly(BillingError):
    """Ledger entries are never edited or deleted; corrections are new entries."""


class TopUpNotAllowed(BillingError):
    """The caller may not make this top-up: they lack the `billing.top_up` permission, or it is
    their own wallet and they are not a superuser (HTTP 403)."""
