"""Low-balance alerts: when a charge takes a wallet under `LOW_BALANCE_THRESHOLD`, its user gets
an email (when they gave an address) and `LOW_BALANCE_WEBHOOK_URL` a signed POST, once per
crossing (`Wallet.low_balance_alerted`; a credit that lifts the balance back over re-arms it).

Nothing here runs in the chat's request: the charge only flips the flag, and the alert is a
task (on the "background" alias: a thread of the server without a task queue, the queue's
worker with one), retried with exponential backoff while the receiver fails.

The signature is Stripe's scheme: `X-Tally-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with LOW_BALANCE_WEBHOOK_SECRET>`. A receiver recomputes it and refuses a stale
`t` (say, older than five minutes), so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone
from django_tasks import task

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5.0


def crossed(*, user_id: int, balance: int) -> None:
    """A charge just took the wallet under the threshold: alert, after this response. Never
    raises: the charge has committed, and its chat must go on."""
    try:
        deliver.using(backend=_backend()).enqueue(user_id=user_id, balance=balance, attempt=1)
    except Exception:
        log.exception("could not queue the low-balance alert for user %s", user_id)


def _backend() -> str:
    return "background" if "background" in settings.TASKS else "default"


def signature(body: bytes, *, timestamp: int, secret: str) -> str:
    """The `X-Tally-Signature` value for ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@task()
def deliver(user_id: int, balance: int, attempt: int) -> bool:
    """Email the user (on the first attempt) and POST the webhook; on a failed POST, try again
    later, up to `LOW_BALANCE_WEBHOOK_ATTEMPTS` times. True when the webhook took it."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:  # deleted since
        return False
    if attempt == 1 and user.email:
        send_mail(
            "Your Tally balance is running low",
            f"Hello {user.get_username()},\n\nyour balance is {balance} tokens, under "
            f"{settings.LOW_BALANCE_THRESHOLD}. Ask the shop's staff for a top-up to keep "
            "chatting.\n",
            None,
            [user.email],
            fail_silently=True,
        )
    url = settings.LOW_BALANCE_WEBHOOK_URL
    if not url:
        return False
    body = json.dumps(
        {
            "type": "wallet.low_balance",
            "user": {"id": user.pk, "username": user.get_username()},
            "balance": balance,
            "threshold": settings.LOW_BALANCE_THRESHOLD,
            "attempt": attempt,
            "sent_at": timezone.now().isoformat().replace("+00:00", "Z"),
        },
        separators=(",", ":"),
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the operator's own https URL
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Tally low-balance alert",
            "X-Tally-Signature": signature(
                body, timestamp=int(time.time()), secret=settings.LOW_BALANCE_WEBHOOK_SECRET
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S):  # noqa: S310
            return True
    except (urllib.error.URLError, OSError) as exc:
        log.warning("low-balance webhook attempt %d for user %s failed: %s", attempt, user_id, exc)
    if attempt < settings.LOW_BALANCE_WEBHOOK_ATTEMPTS:
        _again(user_id=user_id, balance=balance, attempt=attempt + 1)
    else:
        log.error("low-balance webhook for user %s gave up after %d attempts", user_id, attempt)
    return False


def _again(*, user_id: int, balance: int, attempt: int) -> None:
    """Enqueue attempt number ``attempt`` after 2^(attempt - 2) backoffs (a queue that can
    defer does the waiting; a thread backend gets a timer, so no worker sleeps)."""
    delay = settings.LOW_BALANCE_WEBHOOK_BACKOFF_S * 2 ** (attempt - 2)
    task_ = deliver.using(backend=_backend())
    arguments = {"user_id": user_id, "balance": balance, "attempt": attempt}
    if task_.get_backend().supports_defer:
        task_.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(**arguments)
        return
    timer = threading.Timer(delay, lambda: task_.enqueue(**arguments))
    timer.daemon = True
    timer.start()
