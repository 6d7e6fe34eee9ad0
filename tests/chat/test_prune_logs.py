"""`manage.py prune_logs` keeps the request log bounded; ledger and messages are never pruned."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry
from chat.models import IdempotencyKey, Message, RequestLog

pytestmark = pytest.mark.django_db


def chat(api: APIClient, times: int, key: str | None = None) -> None:
    headers = {"Idempotency-Key": key} if key else {}
    for n in range(times):
        body = {"message": f"Hello number {n}"}
        response = api.post("/api/chat/", body, format="json", headers=headers)
        assert response.status_code == 200, response.json()


def age(queryset: Any, days: float) -> None:
    queryset.update(created_at=timezone.now() - timedelta(days=days))


def prune_logs(*args: str) -> str:
    out = StringIO()
    call_command("prune_logs", *args, stdout=out)
    return out.getvalue()


def test_request_logs_older_than_the_retention_are_deleted_and_newer_ones_kept(
    user_api: APIClient, user: User, settings: Any
):
    settings.REQUEST_LOG_RETENTION_DAYS = 30
    chat(user_api, 5)
    logs = list(RequestLog.objects.order_by("id"))
    age(RequestLog.objects.filter(pk__in=[log.pk for log in logs[:3]]), days=31)
    age(RequestLog.objects.filter(pk=logs[3].pk), days=29)

    output = prune_logs()

    assert "Deleted 3 request log entries older than 30 days" in output
    assert list(RequestLog.objects.order_by("id")) == logs[3:]


def test_ledger_entries_and_messages_are_never_pruned(user_api: APIClient, user: User):
    chat(user_api, 3)
    entries = list(LedgerEntry.objects.filter(wallet_id=user.pk).order_by("id"))
    messages = list(Message.objects.order_by("id"))
    # Years old, far past any retention: still the record of what was paid for and said.
    for model in (RequestLog, Message):
        age(model.objects.all(), days=3650)
    with connection.cursor() as cursor:  # the ledger's own API refuses updates, rightly
        cursor.execute(
            "UPDATE billing_ledgerentry SET created_at = %s",
            [timezone.now() - timedelta(days=3650)],
        )

    prune_logs("--days", "1")

    assert not RequestLog.objects.exists()
    kept = LedgerEntry.objects.filter(wallet_id=user.pk).order_by("id")
    assert [(e.pk, e.delta) for e in kept] == [(e.pk, e.delta) for e in entries]
    assert list(Message.objects.order_by("id")) == messages
    assert len(entries) == 4 and len(messages) == 6


def test_days_defaults_to_ninety_without_the_setting(user_api: APIClient, settings: Any):
    if hasattr(settings, "REQUEST_LOG_RETENTION_DAYS"):
        del settings.REQUEST_LOG_RETENTION_DAYS
    chat(user_api, 2)
    first, second = RequestLog.objects.order_by("id")
    age(RequestLog.objects.filter(pk=first.pk), days=91)
    age(RequestLog.objects.filter(pk=second.pk), days=89)

    assert "Deleted 1 request log entries older than 90 days" in prune_logs()
    assert list(RequestLog.objects.all()) == [second]


def test_the_days_option_overrides_the_setting(user_api: APIClient, settings: Any):
    settings.REQUEST_LOG_RETENTION_DAYS = 90
    chat(user_api, 2)
    age(RequestLog.objects.all(), days=8)

    assert "Deleted 2 request log entries older than 7 days" in prune_logs("--days", "7")
    assert not RequestLog.objects.exists()


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(user_api: APIClient):
    chat(user_api, 1, key="k1")
    chat(user_api, 1, key="k2")
    age(RequestLog.objects.all(), days=100)
    age(IdempotencyKey.objects.filter(key="k1"), days=2)

    output = prune_logs("--dry-run")

    assert "Would delete 2 request log entries older than 90 days" in output
    assert "Would delete 1 idempotency keys older than 24 hours" in output
    assert RequestLog.objects.count() == 2
    assert IdempotencyKey.objects.count() == 2


def test_idempotency_keys_expire_after_24_hours(user_api: APIClient):
    chat(user_api, 1, key="old")
    chat(user_api, 1, key="new")
    age(IdempotencyKey.objects.filter(key="old"), days=1.01)
    age(IdempotencyKey.objects.filter(key="new"), days=0.99)

    output = prune_logs()

    assert "Deleted 1 idempotency keys older than 24 hours" in output
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert RequestLog.objects.count() == 2  # both younger than the log's retention


def test_deletes_in_batches_so_no_transaction_holds_the_table_long(user_api: APIClient):
    chat(user_api, 5)
    age(RequestLog.objects.all(), days=100)

    with CaptureQueriesContext(connection) as queries:
        output = prune_logs("--batch-size", "2")

    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "chat_requestlog"')]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert "Deleted 5 request log entries" in output
    assert not RequestLog.objects.exists()


@pytest.mark.parametrize("option", [["--days", "0"], ["--batch-size", "0"]])
def test_nonsense_options_are_refused(option: list[str]):
    with pytest.raises(CommandError):
        prune_logs(*option)
