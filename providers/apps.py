"""The providers app's configuration: registers the system checks that vet provider settings."""

from __future__ import annotations

from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Model providers"

    def ready(self) -> None:
        from django.core import checks

        from providers.checks import check_providers

        checks.register(check_providers, "providers")
