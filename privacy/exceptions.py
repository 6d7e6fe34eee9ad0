"""Errors of leaving; `config.errors` maps them to HTTP."""

from __future__ import annotations


class PrivacyError(Exception):
    """Base of every privacy error."""


class PasswordMismatch(PrivacyError):
    """The password given to confirm the deletion is not the account's (HTTP 400 on the
    `password` field)."""


class LastSuperuser(PrivacyError):
    """The account is the last active superuser: deleting it would leave nobody to run the shop
    (HTTP 409, code `last_superuser`)."""
