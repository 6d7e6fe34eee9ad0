"""Account errors; `config.errors` maps them to HTTP."""

from __future__ import annotations


class InvalidCredentials(Exception):
    """Username or password is wrong; deliberately never says which (HTTP 400)."""


class UsernameTaken(Exception):
    """Someone registered this username first (HTTP 400 on the `username` field)."""
