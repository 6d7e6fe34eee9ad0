"""A database that cannot serve now is a 503 with `Retry-After`, in the one error format, and
charges nothing: never a 500."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def another_writer_holds_the_database() -> Iterator[None]:
    """What a long write by another process looks like to `core.sqlite`: its writer lock taken."""
    fd = os.open(f"{connection.settings_dict['NAME']}.writer", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's writer lock")
def test_a_chat_that_cannot_get_the_database_is_a_503_with_retry_after_and_charges_nothing(
    user: User, user_api: APIClient, monkeypatch: pytest.MonkeyPatch, settings
):
    settings.DB_RETRY_AFTER_S = 3
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    charges_before = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHAT_CHARGE).count()

    with another_writer_holds_the_database():
        response = user_api.post("/api/chat/", {"message": "When do you open?"}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "The database is unavailable; try again shortly.",
        "code": "database_unavailable",
        "retry_after": 3,
    }
    assert response["Retry-After"] == "3"
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 4000
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHAT_CHARGE).count() == charges_before
    # And once the other writer is done, the same chat is served.
    assert (
        user_api.post("/api/chat/", {"message": "When do you open?"}, format="json").status_code
        == 200
    )
