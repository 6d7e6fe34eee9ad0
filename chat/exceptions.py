"""Chat's domain errors, each with the HTTP status and `code` the API answers with."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from core.errors import DomainError


class ConversationNotFound(DomainError):
    """No conversation with that id belongs to the caller (HTTP 404, never 403)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class IdempotencyKeyInUse(DomainError):
    """A request with this key is still being processed (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT
    code = "idempotency_key_in_use"


class IdempotencyKeyMismatch(DomainError):
    """This key was used before with a different request body (HTTP 422)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency_key_mismatch"


class TurnExpired(DomainError):
    """The answer came after `reconcile_charges` had refunded its turn: it is not stored and
    nothing is charged (HTTP 504)."""

    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    code = "turn_expired"


class UnsupportedParameter(DomainError):
    """The chosen model cannot honour a parameter the request set (HTTP 400, naming it)."""

    code = "unsupported_parameter"

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": {self.parameter: [str(self)]}}
