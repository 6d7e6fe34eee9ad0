"""`Idempotency-Key` handling as Stripe does it: a retry replays the first success.

Records live in the database, so every worker and machine sees the same keys. Only successful
outcomes are kept: after an error (402, a refunded provider failure) the key is released and a
retry runs again, which is what a client retrying after a top-up or an outage wants.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.exceptions import IdempotencyKeyInUse, IdempotencyKeyMismatch
from chat.models import IdempotencyKey

TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def claim(*, user: AbstractBaseUser, key: str, payload: Any) -> IdempotencyKey | Replay:
    """Reserve `key` for this request, or return the stored outcome of its first run.

    Raises `IdempotencyKeyInUse` while the first run is still going, and
    `IdempotencyKeyMismatch` when the key came with a different body.
    """
    print_ = fingerprint(payload)
    expired_before = timezone.now() - TTL
    IdempotencyKey.objects.filter(user_id=user.pk, key=key, created_at__lt=expired_before).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user_id=user.pk, key=key, fingerprint=print_)
    except IntegrityError:
        pass  # a record exists: the first run finished, or is still running
    record = IdempotencyKey.objects.filter(user_id=user.pk, key=key).first()
    if record is None:  # released between our insert and this read: the caller may retry
        raise IdempotencyKeyInUse("A request with this Idempotency-Key was just retried.")
    if record.fingerprint != print_:
        raise IdempotencyKeyMismatch(
            "This Idempotency-Key was already used with a different request body."
        )
    if not record.completed:
        raise IdempotencyKeyInUse("A request with this Idempotency-Key is still being processed.")
    return Replay(status=record.response_status or 200, body=record.response_body or {})


def complete(record: IdempotencyKey, *, status: int, body: dict[str, Any]) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(
        completed=True, response_status=status, response_body=body
    )


def release(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).delete()
