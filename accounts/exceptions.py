"""Account errors, each with the HTTP status and `code` the API answers with."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from core.errors import DomainError, FieldError


class InvalidCredentials(DomainError):
    """Username or password is wrong; deliberately never says which (HTTP 400)."""

    code = "invalid_credentials"


class UsernameTaken(FieldError):
    """Someone registered this username first (HTTP 400 on the `username` field)."""

    field = "username"


class LoginLockedOut(DomainError):
    """Too many failed logins for this name from this address (HTTP 429 with Retry-After)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "locked_out"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {**super().body(), "retry_after": self.retry_after}


class WrongPassword(FieldError):
    """The current password given to change it is not the user's (HTTP 400 on `old_password`)."""

    field = "old_password"


class ApiTokenNotFound(DomainError):
    """No such API token among the caller's own (HTTP 404)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
