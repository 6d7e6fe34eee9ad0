"""System checks for provider settings, so a missing key or SDK fails `manage.py check` and
startup rather than the first chat."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.checks import Warning as CheckWarning

from providers import registry
from providers.exceptions import ProviderNotConfigured


def check_providers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Vet ``LLM_PROVIDER``, ``LLM_FALLBACKS`` and the adapters they need."""
    known = ", ".join(registry.ADAPTERS)
    messages: list[CheckMessage] = []
    default = settings.LLM_PROVIDER
    if default not in registry.ADAPTERS:
        messages.append(
            Error(
                f"LLM_PROVIDER names an unknown provider: {default!r}.",
                hint=f"Set LLM_PROVIDER to one of: {known}.",
                id="providers.E001",
            )
        )
    elif not registry.is_configured(default):
        messages.append(
            Error(
                f"LLM_PROVIDER is {default!r} but that provider is not configured.",
                hint=f"Set {registry.REQUIRED_SETTINGS[default]}, or choose another LLM_PROVIDER.",
                id="providers.E002",
            )
        )
    else:
        messages += _adapter_errors(default, setting="LLM_PROVIDER")

    for name in settings.LLM_FALLBACKS:
        if name not in registry.ADAPTERS:
            messages.append(
                Error(
                    f"LLM_FALLBACKS names an unknown provider: {name!r}.",
                    hint=f"Use names from: {known}.",
                    id="providers.E003",
                )
            )
        elif not registry.is_configured(name):
            messages.append(
                CheckWarning(
                    f"LLM_FALLBACKS names {name!r}, which is not configured; it will be skipped.",
                    hint=f"Set {registry.REQUIRED_SETTINGS[name]}, or remove it from the list.",
                    id="providers.W001",
                )
            )
        elif name != default:
            messages += _adapter_errors(name, setting="LLM_FALLBACKS")
    messages += _unused_prices()
    return messages


def _unused_prices() -> list[CheckMessage]:
    """A `CHAT_PRICES` entry no request can reach is most likely a typo of one that can."""
    allowed = {
        f"{name}/{model}" for name, models in registry.allowed_models().items() for model in models
    }
    return [
        CheckWarning(
            f"CHAT_PRICES prices {model!r}, which is not an allowed model here.",
            hint=f"Allowed: {', '.join(sorted(allowed))}.",
            id="providers.W002",
        )
        for model in settings.CHAT_PRICES
        if model not in allowed
    ]


def _adapter_errors(name: str, *, setting: str) -> list[CheckMessage]:
    """Build the adapter (no network call) and report why it cannot be, e.g. a missing SDK."""
    try:
        provider = registry.get(name)
    except ProviderNotConfigured as err:
        return [Error(f"{setting}: provider {name!r} cannot be used: {err}", id="providers.E004")]
    except ImportError as err:
        return [Error(f"{setting}: provider {name!r} failed to import: {err}", id="providers.E004")]
    return [
        Error(f"{setting}: provider {name!r}: {problem}", id="providers.E005")
        for problem in provider.check()
    ]
