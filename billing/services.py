"""Every change of a balance: grant, charge, refund, top-up. Nothing else writes a wallet.

Each service is one short transaction: a conditional UPDATE of the wallet plus one ledger
insert. No row lock is ever held across a network call. Called inside a caller's transaction
(a chat's charge commits with its question), a service joins it without a savepoint: its only
failure, `InsufficientTokens`, happens before it writes anything.
"""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from billing import alerts
from billing.exceptions import InsufficientTokens, InvalidAmount, TopUpNotAllowed
from billing.models import LedgerEntry, Wallet
from billing.selectors import balance_of
from core import statements

log = logging.getLogger(__name__)


def _check_amount(amount: int, *, maximum: int | None = None) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount(f"Amount must be a positive integer, got {amount!r}.")
    if maximum is not None and amount > maximum:
        raise InvalidAmount(f"Amount must be at most {maximum}, got {amount}.")


# Joins a caller's transaction without a savepoint. Nothing may raise out of it on purpose
# (that would doom the caller's transaction): refusals are decided before or after it.
_joined = transaction.atomic(savepoint=False)


def _apply(
    *,
    user: AbstractBaseUser,
    delta: int,
    kind: str,
    reference: str = "",
    note: str = "",
    model: str = "",
    created_by: AbstractBaseUser | None = None,
) -> LedgerEntry | None:
    """Move the balance by `delta` and record it; None (nothing written) when that would
    take the balance below zero.

    The UPDATE is conditional (`balance + delta >= 0`), so two concurrent debits can never both
    pass a balance check they read earlier: the database serialises the writes and the loser
    matches no row. The balance comes back from the same statement (`RETURNING`), so it is
    exactly the balance this entry produced.
    """
    wallet_id = user.pk
    with _joined:
        moved = _move(wallet_id, delta)
        if moved is None and delta >= 0:
            # Users made outside registration (createsuperuser, the admin) get a wallet lazily.
            Wallet.objects.get_or_create(user_id=wallet_id)
            moved = _move(wallet_id, delta)
        if moved is None:
            return None
        balance, alerted = moved
        _low_balance(wallet_id, balance, alerted=alerted, kind=kind)
        entry = LedgerEntry(
            wallet_id=wallet_id,
            username=user.get_username(),
            delta=delta,
            balance_after=balance,
            kind=kind,
            reference=reference,
            note=note,
            model=model,
            created_by=created_by,  # type: ignore[misc]  # any AUTH_USER_MODEL
        )
        statements.insert(entry)
    log.info(
        "ledger %s user=%s delta=%+d balance=%d ref=%s",
        kind,
        wallet_id,
        delta,
        balance,
        reference,
    )
    return entry


def _low_balance(wallet_id: int, balance: int, *, alerted: bool, kind: str) -> None:
    """Alert (after commit) when a charge takes the wallet under `LOW_BALANCE_THRESHOLD`, once
    per crossing: the flag is flipped by a conditional UPDATE, so of two charges crossing at
    once only one alerts; a top-up or adjustment back over the threshold re-arms it."""
    threshold = settings.LOW_BALANCE_THRESHOLD
    if not threshold:
        return
    if kind == LedgerEntry.Kind.CHAT_CHARGE and balance < threshold and not alerted:
        flipped = Wallet.objects.filter(
            user_id=wallet_id, low_balance_alerted=False, balance__lt=threshold
        ).update(low_balance_alerted=True)
        if flipped:
            transaction.on_commit(partial(alerts.crossed, user_id=wallet_id, balance=balance))
    elif kind in _RE_ARMING and balance >= threshold and alerted:
        Wallet.objects.filter(user_id=wallet_id).update(low_balance_alerted=False)


# Credits that re-arm the alert (a refund gives back a failed chat's charge: it does not).
_RE_ARMING = (LedgerEntry.Kind.TOP_UP, LedgerEntry.Kind.ADJUSTMENT, LedgerEntry.Kind.SIGNUP_GRANT)


def _move(wallet_id: int, delta: int) -> tuple[int, bool] | None:
    """`UPDATE … RETURNING` the new balance and whether a low-balance alert went out since the
    last re-arming; None when no wallet could pay (or none exists).

    Hand-written because the ORM cannot say it: `QuerySet.update` returns a row count, not the
    balance this very update produced. So `auto_now` does not apply: it sets `updated_at` itself.
    """
    table = connection.ops.quote_name(Wallet._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance + %s, updated_at = %s "  # noqa: S608 - own table
            "WHERE user_id = %s AND balance + %s >= 0 RETURNING balance, low_balance_alerted",
            [delta, connection.ops.adapt_datetimefield_value(timezone.now()), wallet_id, delta],
        )
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), bool(row[1]))


def _credited(entry: LedgerEntry | None) -> LedgerEntry:
    assert entry is not None, "a credit cannot take a balance below zero"  # noqa: S101
    return entry


def grant(
    *,
    user: AbstractBaseUser,
    amount: int,
    kind: str = LedgerEntry.Kind.SIGNUP_GRANT,
    note: str = "",
) -> LedgerEntry:
    """Credit tokens the system gives away (the signup grant, adjustments)."""
    _check_amount(amount)
    return _credited(_apply(user=user, delta=amount, kind=kind, note=note))


def charge(
    *, user: AbstractBaseUser, amount: int, reference: str = "", note: str = "", model: str = ""
) -> LedgerEntry:
    """Debit tokens for a chat (priced for ``model``); raises `InsufficientTokens` and changes
    nothing when short."""
    _check_amount(amount)
    entry = _apply(
        user=user,
        delta=-amount,
        kind=LedgerEntry.Kind.CHAT_CHARGE,
        reference=reference,
        note=note,
        model=model,
    )
    if entry is None:
        raise InsufficientTokens(balance=balance_of(user=user), required=amount)
    return entry


def refund(
    *, user: AbstractBaseUser, amount: int, reference: str = "", note: str = "", model: str = ""
) -> LedgerEntry:
    """Give back a charge as its own ledger entry (the charge itself is never edited)."""
    _check_amount(amount)
    return _credited(
        _apply(
            user=user,
            delta=amount,
            kind=LedgerEntry.Kind.REFUND,
            reference=reference,
            note=note,
            model=model,
        )
    )


def settle(*, user: AbstractBaseUser, amount: int, reference: str, model: str = "") -> LedgerEntry:
    """Give back the part of a chat's hold its answer did not use (usage pricing)."""
    _check_amount(amount)
    return _credited(
        _apply(
            user=user,
            delta=amount,
            kind=LedgerEntry.Kind.SETTLE,
            reference=reference,
            model=model,
        )
    )


TOP_UP_PERMISSION = "billing.top_up"


def top_up_allowed(*, by: AbstractBaseUser, user: AbstractBaseUser | None = None) -> bool:
    """Whether `by` may credit `user`'s wallet (any wallet when `user` is None): the
    `billing.top_up` permission, and their own wallet only as a superuser."""
    if not by.is_active or not by.has_perm(TOP_UP_PERMISSION):  # type: ignore[attr-defined]
        return False
    return user is None or user.pk != by.pk or bool(getattr(by, "is_superuser", False))


def top_up(
    *, user: AbstractBaseUser, amount: int, by: AbstractBaseUser | None, note: str = ""
) -> LedgerEntry:
    """Staff credit a user's wallet, up to `MAX_TOP_UP` at a time; the entry records who.

    `by=None` is the system itself (a management command); a person needs `top_up_allowed`,
    else `TopUpNotAllowed` and nothing is written.
    """
    if by is not None and not top_up_allowed(by=by, user=user):
        raise TopUpNotAllowed(
            "Only a superuser may top up their own wallet."
            if by.pk == user.pk and top_up_allowed(by=by)
            else "You do not have permission to top up wallets."
        )
    _check_amount(amount, maximum=settings.MAX_TOP_UP)
    return _credited(
        _apply(user=user, delta=amount, kind=LedgerEntry.Kind.TOP_UP, note=note, created_by=by)
    )


FORFEIT_REFERENCE = "account-deleted"


@transaction.atomic
def forfeit(*, user: AbstractBaseUser, note: str) -> LedgerEntry:
    """Take the whole balance away (its account was deleted) as one `adjustment` entry, so the
    ledger still sums to the balance, now zero. Written even for an empty wallet: the history
    then always says when the account closed.

    Its `reference` is `FORFEIT_REFERENCE`, so forfeits are found apart from staff adjustments.
    """
    # Locked so no charge or refund moves the balance between this read and the debit.
    balance = (
        Wallet.objects.select_for_update()
        .filter(user_id=user.pk)
        .values_list("balance", flat=True)
        .first()
    )
    entry = _apply(
        user=user,
        delta=-(balance or 0),
        kind=LedgerEntry.Kind.ADJUSTMENT,
        reference=FORFEIT_REFERENCE,
        note=note,
    )
    assert entry is not None, "the wallet row is locked: its balance cannot have dropped"  # noqa: S101
    return entry


def relabel(*, user: AbstractBaseUser) -> int:
    """Write the user's current username on all their ledger entries (after an erasure: the
    anonymised name); returns how many. The amounts stay as they were written."""
    return LedgerEntry.objects.filter(wallet_id=user.pk).relabel(user.get_username())
