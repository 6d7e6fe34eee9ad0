"""`manage.py reconcile_charges`: refund chats whose server died between charge and answer.

A chat turn charges and stores its question as `pending` in one transaction, then ends in
exactly one transaction that either stores the answer (`ok`) or refunds (`failed`). A worker
killed in between (OOM, SIGKILL, a lost machine) runs neither, so its question stays `pending`
and the user stays charged. This command finds such questions once they are older than any turn
can legitimately run, refunds them and marks them failed. It is safe to run again, or twice at
once: a question is claimed by a conditional update in the same transaction as its refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from billing import services as billing
from billing.models import LedgerEntry
from chat.models import Message, RequestLog

# Far longer than a turn may run (LLM_TIMEOUT_S per model call, a few tool rounds), so a turn
# still in progress on a live worker is never refunded under its feet.
DEFAULT_MINUTES = 15.0
NOTE = "abandoned"
# Inside the turn's transaction the charge is written a moment before its question.
PAIRING_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Reconciled:
    question: int
    username: str
    amount: int
    reference: str


def charge_reference(question: Message, wallet_id: int) -> str:
    """The reference of the charge that paid for `question`, or "" if it cannot be told.

    Only for questions stored before `Message.reference` existed: the pair is found by time,
    since the charge and the question are written in one transaction that holds the wallet's
    row lock, so no other charge of the same wallet falls between them.
    """
    charge = (
        LedgerEntry.objects.filter(
            wallet_id=wallet_id,
            kind=LedgerEntry.Kind.CHAT_CHARGE,
            created_at__lte=question.created_at,
            created_at__gte=question.created_at - PAIRING_WINDOW,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if charge is None or not charge.reference:
        return ""
    refunded = LedgerEntry.objects.filter(
        wallet_id=wallet_id, kind=LedgerEntry.Kind.REFUND, reference=charge.reference
    ).exists()
    return "" if refunded else charge.reference


def reconcile_one(question_id: int, *, now: datetime) -> Reconciled | None:
    """Refund one abandoned question and mark it failed; None if someone else settled it."""
    with transaction.atomic():
        question = (
            Message.objects.select_related("conversation__user")
            .filter(pk=question_id, status=Message.Status.PENDING)
            .first()
        )
        if question is None:
            return None
        # The claim: whoever flips pending → failed first is the one who refunds.
        claimed = Message.objects.filter(pk=question.pk, status=Message.Status.PENDING).update(
            status=Message.Status.FAILED, tokens_charged=0
        )
        if not claimed:
            return None
        user = question.conversation.user
        # Rows from before `Message.reference` existed are paired with their charge by time.
        reference = question.reference or charge_reference(question, user.pk)
        if question.tokens_charged:
            billing.refund(
                user=user,
                amount=question.tokens_charged,
                reference=reference,
                note=NOTE,
                model=f"{question.provider}/{question.model}" if question.provider else "",
            )
        RequestLog.objects.create(
            user=user,
            username=user.get_username(),
            conversation_id=question.conversation_id,
            client_ip=question.client_ip,
            request_text=question.content,
            provider=question.provider,
            model=question.model,
            latency_ms=int((now - question.created_at).total_seconds() * 1000),
            status=RequestLog.Status.CANCELLED,
            error_code=NOTE,
        )
    return Reconciled(question.pk, user.get_username(), question.tokens_charged, reference)


class Command(BaseCommand):
    help = (
        "Refund chats still pending after --older-than minutes (their server died between the "
        "charge and the answer) and mark them failed. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=DEFAULT_MINUTES,
            metavar="MINUTES",
            help=f"Only questions pending for this long (default {DEFAULT_MINUTES:g}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only list what would be refunded."
        )

    def handle(self, *args: Any, older_than: float, dry_run: bool, **options: Any) -> None:
        if older_than < 0:
            raise CommandError(f"--older-than must be zero or more, got {older_than:g}.")
        now = timezone.now()
        stale = Message.objects.filter(
            role=Message.Role.USER,
            status=Message.Status.PENDING,
            created_at__lte=now - timedelta(minutes=older_than),
        ).order_by("id")
        if dry_run:
            count = stale.count()
            self.stdout.write(f"Would refund {count} abandoned chat(s).")
            return
        done = [
            outcome
            for question_id in list(stale.values_list("pk", flat=True))
            if (outcome := reconcile_one(question_id, now=now)) is not None
        ]
        for outcome in done:
            self.stdout.write(
                f"Refunded {outcome.amount} tokens to {outcome.username} for message "
                f"{outcome.question} ({outcome.reference or 'charge not found'})."
            )
        tokens = sum(outcome.amount for outcome in done)
        self.stdout.write(f"Refunded {len(done)} abandoned chat(s), {tokens} tokens in all.")
