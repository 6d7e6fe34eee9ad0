"""`manage.py load_demo`: the demo staff account `make run` prints. Safe to run again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts import services
from accounts.models import User


class Command(BaseCommand):
    help = "Create the demo staff account (idempotent) and print its credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        username = settings.DEMO_STAFF_USERNAME
        password = settings.DEMO_STAFF_PASSWORD
        if User.objects.filter(username=username).exists():
            verb = "exists"
        else:
            services.user_register(
                username=username, password=password, is_staff=True, is_superuser=True
            )
            verb = "created"
        self.stdout.write(self.style.SUCCESS(f"Demo staff account {verb}: {username} / {password}"))
