"""Tally's user (usernames unique whatever their case) and the user's named API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS


class UserManager(DjangoUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        # Usernames are unique case-insensitively (the constraint below), so "John" is john.
        return self.get(username__iexact=username)


# The plugin cannot see knox's `auth_token_set` (ApiToken's related name) from its stubs.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    """A person with a token wallet (see `billing.models.Wallet`)."""

    objects = UserManager()  # type: ignore[misc]

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ]


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox): only the key's digest and its first characters are kept.

    The key itself is shown once, when the token is issued; `token_key` (its first
    characters) lets authentication find the row to compare digests with.
    """

    # An id to name the token by in the API: the digest is a secret's hash, never shown.
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, unique=True)
    name = models.CharField(max_length=100, blank=True, help_text="Which device or script.")
    last_used = models.DateTimeField(
        null=True, blank=True, help_text="Within the refresh interval; empty until used."
    )

    class Meta:
        verbose_name = "API token"

    @property
    def prefix(self) -> str:
        """The key's first characters: enough to recognise it, far too few to use it."""
        return self.token_key[:PREFIX_LENGTH]

    def __str__(self) -> str:
        return f"{self.name or 'API token'} of {self.user_id} ({self.prefix}…)"


PREFIX_LENGTH = 6
