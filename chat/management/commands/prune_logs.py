"""`manage.py prune_logs`: keep the request log bounded and drop expired idempotency keys.

Deletes in small batches, each its own short transaction, so a large backlog never holds long
locks. Ledger entries and conversation messages are never touched: they are the record of
what users paid for and said.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.utils import timezone

from chat.idempotency import TTL as IDEMPOTENCY_TTL
from chat.models import IdempotencyKey, RequestLog

DEFAULT_RETENTION_DAYS = 90
BATCH_SIZE = 5000


def old_rows(model: type[models.Model], *, before: datetime) -> models.QuerySet[Any]:
    """`model` rows created before `before`, oldest first.

    Oldest first walks the created_at index, so each batch is cheap to find, even the last
    one, which finds nothing left.
    """
    return model._default_manager.filter(created_at__lt=before).order_by("created_at")


def prune(model: type[models.Model], *, before: datetime, batch_size: int) -> int:
    """Delete `model` rows created before `before`, `batch_size` ids at a time; how many went."""
    old = old_rows(model, before=before)
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        count, _ = model._default_manager.filter(pk__in=ids).delete()
        deleted += count


class Command(BaseCommand):
    help = (
        "Delete request log entries older than REQUEST_LOG_RETENTION_DAYS and idempotency "
        "keys older than 24 hours. Ledger entries and messages are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep this many days of request log (default: REQUEST_LOG_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="Rows deleted per transaction."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = getattr(settings, "REQUEST_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
        batch_size: int = options["batch_size"]
        if days < 1:
            raise CommandError(f"--days must be at least 1, got {days}.")
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, got {batch_size}.")
        now = timezone.now()
        log_cutoff = now - timedelta(days=days)
        key_cutoff = now - IDEMPOTENCY_TTL
        if dry_run:
            logs = RequestLog.objects.filter(created_at__lt=log_cutoff).count()
            keys = IdempotencyKey.objects.filter(created_at__lt=key_cutoff).count()
            verb = "Would delete"
        else:
            logs = prune(RequestLog, before=log_cutoff, batch_size=batch_size)
            keys = prune(IdempotencyKey, before=key_cutoff, batch_size=batch_size)
            verb = "Deleted"
        self.stdout.write(
            f"{verb} {logs} request log entries older than {days} days "
            f"(before {log_cutoff:%Y-%m-%d %H:%M:%S} UTC)."
        )
        self.stdout.write(f"{verb} {keys} idempotency keys older than 24 hours.")
