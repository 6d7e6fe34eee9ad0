"""Chat's domain errors; `config.errors` maps them to HTTP."""

from __future__ import annotations


class ConversationNotFound(Exception):
    """No conversation with that id belongs to the caller (HTTP 404, never 403)."""


class IdempotencyKeyInUse(Exception):
    """A request with this key is still being processed (HTTP 409)."""


class IdempotencyKeyMismatch(Exception):
    """This key was used before with a different request body (HTTP 422)."""


class TurnExpired(Exception):
    """The answer came after `reconcile_charges` had refunded its turn: it is not stored and
    nothing is charged (HTTP 504)."""
