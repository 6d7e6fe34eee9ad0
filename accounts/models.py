"""Tally's user: Django's standard fields, owned by this project from the first migration."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person with a token wallet (see `billing.models.Wallet`)."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
