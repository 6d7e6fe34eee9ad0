"""Billing's domain errors, each with the HTTP status and `code` the API answers with."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from core.errors import DomainError


class BillingError(DomainError):
    """Base of every billing error."""


class InsufficientTokens(BillingError):
    """The wallet cannot pay for this; nothing was charged (HTTP 402)."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    code = "insufficient_tokens"

    def __init__(self, *, balance: int, required: int) -> None:
        super().__init__(f"Not enough tokens: {required} required, {balance} available.")
        self.balance = balance
        self.required = required

    def body(self) -> dict[str, Any]:
        return {**super().body(), "tokens": self.balance, "required": self.required}


class InvalidAmount(BillingError):
    """An amount was not a positive integer within the allowed range (HTTP 400)."""

    code = "invalid_amount"


class LedgerIsAppendOnly(BillingError):
    """Ledger entries are never edited or deleted; corrections are new entries. A programming
    error, never a client's: it answers 500."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    code = "server_error"

    def body(self) -> dict[str, Any]:
        return {"detail": "Internal server error.", "code": self.code}


class TopUpNotAllowed(BillingError):
    """The caller may not make this top-up: they lack the `billing.top_up` permission, or it is
    their own wallet and they are not a superuser (HTTP 403)."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"
