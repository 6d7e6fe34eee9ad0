"""Account errors; `config.errors` maps them to HTTP."""

from __future__ import annotations


class InvalidCredentials(Exception):
    """Username or password is wrong; deliberately never says which (HTTP 400)."""


class UsernameTaken(Exception):
    """Someone registered this username first (HTTP 400 on the `username` field)."""


class LoginLockedOut(Exception):
    """Too many failed logins for this name from this address (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WrongPassword(Exception):
    """The current password given to change it is not the user's (HTTP 400 on `old_password`)."""


class ApiTokenNotFound(Exception):
    """No such API token among the caller's own (HTTP 404)."""
