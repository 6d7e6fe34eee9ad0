"""The billing app's configuration: registers the check of the low-balance webhook's settings."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        checks.register(check_webhook, "billing")


def check_webhook(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A webhook without a secret would be signed with an empty key: anyone could forge it."""
    if settings.LOW_BALANCE_WEBHOOK_URL and not settings.LOW_BALANCE_WEBHOOK_SECRET:
        return [
            checks.Error(
                "LOW_BALANCE_WEBHOOK_URL is set but LOW_BALANCE_WEBHOOK_SECRET is empty.",
                hint="Set LOW_BALANCE_WEBHOOK_SECRET to a long random string shared with the "
                "receiver, which checks X-Tally-Signature with it.",
                id="billing.E001",
            )
        ]
    return []
