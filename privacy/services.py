"""Erasing a person: every app erases its own data, in one transaction, and the account that
the ledger still refers to is anonymised."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts import services as accounts
from accounts.models import User
from billing import services as billing
from chat import services as chat
from orders import services as orders
from privacy.exceptions import LastSuperuser, PasswordMismatch
from retrieval import services as retrieval

log = logging.getLogger(__name__)

FORFEIT_NOTE = "account deleted: balance forfeited"


def anonymised_username(user_id: int) -> str:
    """The name an erased account keeps. `#` is outside every username alphabet (registration,
    the admin, createsuperuser), so nobody can hold it beforehand and block an erasure."""
    return f"deleted#{user_id}"


@transaction.atomic
def account_delete(*, user: User, password: str) -> None:
    """Erase the person behind ``user`` once ``password`` confirms it is them; all or nothing.

    Gone: their conversations and messages, memories, private documents with their vectors,
    their orders' notes, the request log's text and IPs, their name, email and password.
    Stays: the ledger (relabelled, with the balance forfeited by a last entry), the orders'
    lines and amounts, the request log's counts, tied to an inactive, anonymised user whose
    API tokens no longer authenticate.

    Raises `PasswordMismatch`, or `LastSuperuser` for the last active superuser.
    """
    if not user.check_password(password):
        raise PasswordMismatch("The password is not correct.")
    if user.is_superuser:
        _check_another_superuser(user)
    accounts.sign_in_records_erase(user=user)  # before the name goes: attempts are by name
    _anonymise(user)
    chat.user_erase(user=user)
    retrieval.user_erase(user=user)
    orders.user_erase(user=user)
    billing.forfeit(user=user, note=FORFEIT_NOTE)
    billing.relabel(user=user)
    log.info("account %s deleted", user.pk)


def _check_another_superuser(user: User) -> None:
    # Every active superuser row is locked, in one order: of two superusers leaving at once,
    # the second waits for the first, then finds it inactive and is refused.
    superusers = list(
        User.objects.select_for_update()
        .filter(is_superuser=True, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not set(superusers) - {user.pk}:
        raise LastSuperuser(
            "You are the last active superuser: make someone else a superuser first."
        )


def _anonymise(user: User) -> None:
    user.username = anonymised_username(user.pk)
    user.email = user.first_name = user.last_name = ""
    user.set_unusable_password()
    # Inactive: Django's and DRF's (and knox's) authentication refuse the user, so any
    # session of theirs stops working too.
    user.is_active = user.is_staff = user.is_superuser = False
    user.last_login = None
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
