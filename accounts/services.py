"""Registration, login and logout. A new user and their signup grant commit together."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from accounts.exceptions import InvalidCredentials, UsernameTaken
from accounts.models import User
from billing import services as billing


@transaction.atomic
def user_register(
    *,
    username: str,
    password: str,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> tuple[User, Token]:
    """Create a user with the signup grant and an API token, all or nothing.

    Raises `django.core.exceptions.ValidationError` when the password fails the validators and
    `UsernameTaken` when the name is already in use.
    """
    user = User(username=username, email=email, is_staff=is_staff, is_superuser=is_superuser)
    validate_password(password, user=user)
    user.set_password(password)
    try:
        # The serializer checked the name is free; this catches the race with a twin request.
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise UsernameTaken("A user with that username already exists.") from exc
    if settings.SIGNUP_TOKENS:
        billing.grant(user=user, amount=settings.SIGNUP_TOKENS)
    token = Token.objects.create(user=user)
    return user, token


def user_login(*, username: str, password: str) -> Token:
    """The user's API token (created on first login); `InvalidCredentials` otherwise."""
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials("Unable to log in with the provided credentials.")
    token, _ = Token.objects.get_or_create(user=user)
    return token


def user_logout(*, user: User) -> None:
    """Revoke the user's API token; every client using it must log in again."""
    Token.objects.filter(user=user).delete()
