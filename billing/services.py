"""Every change of a balance: grant, charge, refund, top-up. Nothing else writes a wallet.

Each service is one short transaction: a conditional UPDATE of the wallet plus one ledger
insert. No row lock is ever held across a network call.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F

from billing.exceptions import InsufficientTokens, InvalidAmount
from billing.models import LedgerEntry, Wallet

log = logging.getLogger(__name__)


def _check_amount(amount: int, *, maximum: int | None = None) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount(f"Amount must be a positive integer, got {amount!r}.")
    if maximum is not None and amount > maximum:
        raise InvalidAmount(f"Amount must be at most {maximum}, got {amount}.")


def _apply(
    *,
    user: AbstractBaseUser,
    delta: int,
    kind: str,
    reference: str = "",
    note: str = "",
    created_by: AbstractBaseUser | None = None,
) -> LedgerEntry:
    """Move the balance by `delta` and record it. Must run inside a transaction.

    The UPDATE is conditional (`balance + delta >= 0`), so two concurrent debits can never both
    pass a balance check they read earlier: the database serialises the writes and the loser
    matches no row. The UPDATE also holds the row's write lock until commit, so the balance
    read back right after it is exactly the balance this entry produced.
    """
    wallet_id = user.pk
    wallets = Wallet.objects.filter(pk=wallet_id)
    updated = wallets.filter(balance__gte=-delta).update(balance=F("balance") + delta)
    if not updated and delta >= 0:
        # Users made outside registration (createsuperuser, the admin) get a wallet lazily.
        Wallet.objects.get_or_create(user_id=wallet_id)
        updated = wallets.update(balance=F("balance") + delta)
    balance = wallets.values_list("balance", flat=True).first() or 0
    if not updated:
        raise InsufficientTokens(balance=balance, required=-delta)
    entry = LedgerEntry.objects.create(
        wallet_id=wallet_id,
        username=user.get_username(),
        delta=delta,
        balance_after=balance,
        kind=kind,
        reference=reference,
        note=note,
        created_by=created_by,  # type: ignore[misc]  # any AUTH_USER_MODEL
    )
    log.info(
        "ledger %s user=%s delta=%+d balance=%d ref=%s",
        kind,
        wallet_id,
        delta,
        balance,
        reference,
    )
    return entry


@transaction.atomic
def grant(
    *,
    user: AbstractBaseUser,
    amount: int,
    kind: str = LedgerEntry.Kind.SIGNUP_GRANT,
    note: str = "",
) -> LedgerEntry:
    """Credit tokens the system gives away (the signup grant, adjustments)."""
    _check_amount(amount)
    return _apply(user=user, delta=amount, kind=kind, note=note)


@transaction.atomic
def charge(
    *, user: AbstractBaseUser, amount: int, reference: str = "", note: str = ""
) -> LedgerEntry:
    """Debit tokens for a chat; raises `InsufficientTokens` and changes nothing when short."""
    _check_amount(amount)
    return _apply(
        user=user, delta=-amount, kind=LedgerEntry.Kind.CHAT_CHARGE, reference=reference, note=note
    )


@transaction.atomic
def refund(
    *, user: AbstractBaseUser, amount: int, reference: str = "", note: str = ""
) -> LedgerEntry:
    """Give back a charge as its own ledger entry (the charge itself is never edited)."""
    _check_amount(amount)
    return _apply(
        user=user, delta=amount, kind=LedgerEntry.Kind.REFUND, reference=reference, note=note
    )


@transaction.atomic
def top_up(
    *, user: AbstractBaseUser, amount: int, by: AbstractBaseUser | None, note: str = ""
) -> LedgerEntry:
    """Staff credit a user's wallet, up to `MAX_TOP_UP` at a time."""
    _check_amount(amount, maximum=settings.MAX_TOP_UP)
    return _apply(user=user, delta=amount, kind=LedgerEntry.Kind.TOP_UP, note=note, created_by=by)
