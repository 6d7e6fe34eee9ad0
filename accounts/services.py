"""Registration, login and logout, API tokens and password changes. A new user and their signup
grant commit together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import lockout
from accounts.exceptions import (
    ApiTokenNotFound,
    InvalidCredentials,
    LoginLockedOut,
    UsernameTaken,
    WrongPassword,
)
from accounts.models import ApiToken, User
from billing import services as billing


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: its row, and the key, which exists only here and in the response."""

    token: ApiToken
    key: str


@transaction.atomic
def token_issue(*, user: User, name: str = "") -> IssuedToken:
    """A new API token for the user, expiring `TOKEN_TTL` after its last use.

    The user's expired tokens are deleted here (authentication deletes only the one it meets),
    so a user's rows are bounded by the login limits times the TTL.
    """
    ApiToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    token, key = ApiToken.objects.create(user=user, name=name)
    return IssuedToken(token=token, key=key)


@transaction.atomic
def user_register(
    *,
    username: str,
    password: str,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> tuple[User, IssuedToken]:
    """Create a user with the signup grant and an API token, all or nothing.

    Raises `django.core.exceptions.ValidationError` when the password fails the validators and
    `UsernameTaken` when the name (in any case) is already in use.
    """
    user = User(username=username, email=email, is_staff=is_staff, is_superuser=is_superuser)
    validate_password(password, user=user)
    user.set_password(password)
    try:
        # The serializer checked the name is free; the database's case-insensitive unique
        # constraint catches the race with a twin request ("john" and "John" at once).
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise UsernameTaken("A user with that username already exists.") from exc
    if settings.SIGNUP_TOKENS:
        billing.grant(user=user, amount=settings.SIGNUP_TOKENS)
    return user, token_issue(user=user)


def user_login(
    *, request: HttpRequest, username: str, password: str, name: str = ""
) -> IssuedToken:
    """A new API token named `name` for whoever the credentials are (the username in any case).

    `InvalidCredentials` when they are wrong; `LoginLockedOut` when django-axes counted too
    many failures (the request is what axes counts by).
    """
    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise LoginLockedOut(
                "Too many failed logins: try again later.", retry_after=lockout.cooloff_seconds()
            )
        raise InvalidCredentials("Unable to log in with the provided credentials.")
    return token_issue(user=cast(User, user), name=name)


def user_logout(*, token: ApiToken) -> None:
    """Revoke the token the request came with; the user's other tokens keep working."""
    token.delete()


def api_token_revoke(*, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens; another user's is `ApiTokenNotFound`, as is none."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    if not deleted:
        raise ApiTokenNotFound("No such API token.")


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every token of the user, the one in use included; how many there were."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def sign_in_records_erase(*, user: User) -> None:
    """Forget the user's API tokens and the login attempts recorded under their name (the
    lockout's records keep the name and address of each attempt)."""
    api_tokens_revoke_all(user=user)
    name = user.get_username().lower()  # lockouts record names lower-cased
    for record in (AccessAttempt, AccessFailureLog, AccessLog):
        record.objects.filter(username__in={name, user.get_username()}).delete()


@transaction.atomic
def password_change(
    *, user: User, old_password: str, new_password: str, keep: ApiToken | None
) -> None:
    """Set a new password (checked by the validators) and revoke every token but `keep`.

    `WrongPassword` when `old_password` is not the current one.
    """
    if not user.check_password(old_password):
        raise WrongPassword("The current password is not correct.")
    validate_password(new_password, user=user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    others = ApiToken.objects.filter(user=user)
    if keep is not None:
        others = others.exclude(pk=keep.pk)
    others.delete()
