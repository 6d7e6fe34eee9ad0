"""Errors of leaving, each with the HTTP status and `code` the API answers with."""

from __future__ import annotations

from rest_framework import status

from core.errors import DomainError, FieldError


class PrivacyError(DomainError):
    """Base of every privacy error."""


class PasswordMismatch(PrivacyError, FieldError):
    """The password given to confirm the deletion is not the account's (HTTP 400 on the
    `password` field)."""

    field = "password"


class LastSuperuser(PrivacyError):
    """The account is the last active superuser: deleting it would leave nobody to run the shop
    (HTTP 409, code `last_superuser`)."""

    status_code = status.HTTP_409_CONFLICT
    code = "last_superuser"
