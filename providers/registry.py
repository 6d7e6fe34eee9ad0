"""The provider registry: names to lazily imported adapters, one instance per process, the model
allow-list, and falling back to other providers when one is down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from providers.base import Provider, ProviderConfig
from providers.exceptions import ModelNotAllowed, ProviderError, ProviderNotConfigured
from providers.types import Completion, Prompt, StreamEvent

logger = logging.getLogger(__name__)

ADAPTERS: dict[str, str] = {
    "local": "providers.adapters.local.LocalProvider",
    "openai": "providers.adapters.openai_chat.OpenAIProvider",
    "gemini": "providers.adapters.gemini_chat.GeminiProvider",
}

# What makes each vendor usable, for error messages and the system check.
REQUIRED_SETTINGS: dict[str, str] = {
    "openai": "OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server)",
    "gemini": "GEMINI_API_KEY (or GEMINI_BASE_URL)",
}

_instances: dict[str, Provider] = {}
_instances_lock = threading.Lock()


@dataclass(frozen=True)
class ProviderInfo:
    """A configured provider as API consumers see it."""

    name: str
    default_model: str
    models: tuple[str, ...]
    prices: dict[str, int]
    rates: dict[str, dict[str, float]]


def price(provider: str, model: str) -> int:
    """Tokens a chat with ``provider``'s ``model`` costs: its `CHAT_PRICES` entry, or
    `CHAT_COST`."""
    return int(settings.CHAT_PRICES.get(f"{provider}/{model}", settings.CHAT_COST))


def rates(provider: str, model: str) -> tuple[float, float]:
    """Credits per 1,000 prompt and completion tokens of ``provider``'s ``model`` under usage
    pricing: its `CHAT_RATES` entry, or `CHAT_RATE_DEFAULT`."""
    prompt, completion = settings.CHAT_RATES.get(f"{provider}/{model}", settings.CHAT_RATE_DEFAULT)
    return float(prompt), float(completion)


def provider_config(name: str) -> ProviderConfig:
    """The adapter settings for ``name``, read from ``django.conf.settings``."""
    common: dict[str, Any] = {
        "timeout_s": settings.LLM_TIMEOUT_S,
        "max_output_tokens": settings.LLM_MAX_OUTPUT_TOKENS,
    }
    if name == "local":
        return ProviderConfig(
            name="local",
            default_model=settings.LOCAL_MODEL,
            models=(settings.LOCAL_MODEL,),
            **common,
        )
    if name == "openai":
        return ProviderConfig(
            name="openai",
            default_model=settings.OPENAI_MODEL,
            models=_allow_list(settings.OPENAI_MODEL, settings.OPENAI_MODELS),
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            embedding_model=settings.OPENAI_EMBEDDING_MODEL,
            **common,
        )
    if name == "gemini":
        return ProviderConfig(
            name="gemini",
            default_model=settings.GEMINI_MODEL,
            models=_allow_list(settings.GEMINI_MODEL, settings.GEMINI_MODELS),
            api_key=settings.GEMINI_API_KEY,
            base_url=settings.GEMINI_BASE_URL,
            embedding_model=settings.GEMINI_EMBEDDING_MODEL,
            **common,
        )
    raise ProviderNotConfigured(f"Unknown provider {name!r}; known: {', '.join(ADAPTERS)}.")


def is_configured(name: str) -> bool:
    """Whether ``name`` is known and has the settings it needs (``local`` always does)."""
    if name == "local":
        return True
    if name == "openai":
        return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)
    if name == "gemini":
        return bool(settings.GEMINI_API_KEY or settings.GEMINI_BASE_URL)
    return False


def configured() -> list[str]:
    """Names of the providers this deployment can use, ``local`` first."""
    return [name for name in ADAPTERS if is_configured(name)]


def get(name: str) -> Provider:
    """The process-wide adapter for ``name``, built on first use (one SDK client per process)."""
    provider = _instances.get(name)
    if provider is not None:
        return provider
    if not is_configured(name):
        raise not_configured(name)
    with _instances_lock:
        # Two threads may race to the first call; only one builds the client.
        provider = _instances.get(name)
        if provider is None:
            module_path, _, class_name = ADAPTERS[name].rpartition(".")
            adapter = getattr(import_module(module_path), class_name)
            provider = adapter(provider_config(name))
            _instances[name] = provider
    return provider


def warm() -> None:
    """Build the default provider's adapter and its fallbacks' (importing their SDKs and making
    their clients) before the first chat needs them; for `core.warmup`."""
    for name in [settings.LLM_PROVIDER, *settings.LLM_FALLBACKS]:
        if is_configured(name):
            get(name)


def not_configured(name: str) -> ProviderNotConfigured:
    """The error for a provider name that is unknown or lacks its settings, naming the fix."""
    if name not in ADAPTERS:
        return ProviderNotConfigured(
            f"Unknown provider {name!r}; known: {', '.join(ADAPTERS)}.", provider=name
        )
    return ProviderNotConfigured(
        f"Provider {name!r} is not configured: set {REQUIRED_SETTINGS[name]}.", provider=name
    )


def reset() -> None:
    """Forget the built adapters, so the next ``get`` reads settings again."""
    with _instances_lock:
        _instances.clear()


@receiver(setting_changed)
def _settings_changed(**kwargs: Any) -> None:
    # override_settings in tests: adapters hold keys, URLs and timeouts read at build time.
    reset()


def available() -> list[ProviderInfo]:
    """The configured providers with their default model and allow-listed models."""
    infos = []
    for name in configured():
        config = provider_config(name)
        costs = {model: price(name, model) for model in config.models}
        per_1k = {
            model: dict(zip(("prompt", "completion"), rates(name, model), strict=True))
            for model in config.models
        }
        infos.append(ProviderInfo(name, config.default_model, config.models, costs, per_1k))
    return infos


def allowed_models() -> dict[str, list[str]]:
    """Each configured provider's allow-listed models, the default first."""
    return {info.name: list(info.models) for info in available()}


def default_choice() -> tuple[str, str]:
    """The (provider, model) used when a request names neither."""
    name = settings.LLM_PROVIDER
    return name, (provider_config(name).default_model if name in ADAPTERS else "")


def health() -> str:
    """For a health check: the default provider is configured and ready; raises otherwise."""
    name, model = default_choice()
    problems = get(name).check()
    if problems:
        raise RuntimeError("; ".join(problems))
    return f"ok ({name}/{model})"


def resolve(provider: str | None = None, model: str | None = None) -> tuple[Provider, str]:
    """The adapter and model for a request; ``None`` means the deployment's default.

    A provider or model the request named but may not use is the caller's mistake:
    ``ModelNotAllowed`` listing what is allowed. A default that is not configured is the
    deployment's: ``ProviderNotConfigured`` (the system check reports it at startup too).
    """
    name = provider or settings.LLM_PROVIDER
    allowed = allowed_models()
    if name not in allowed:
        if provider is None:
            raise not_configured(name)
        raise ModelNotAllowed(
            f"Provider {name!r} is not available. Allowed: {_describe(allowed)}.",
            allowed=allowed,
        )
    chosen = model or provider_config(name).default_model
    if chosen not in allowed[name]:
        raise ModelNotAllowed(
            f"Model {chosen!r} is not allowed for {name}. Allowed: {_describe(allowed)}.",
            allowed=allowed,
        )
    return get(name), chosen


def complete(
    prompt: Prompt,
    *,
    provider: str | None = None,
    model: str | None = None,
    fallbacks: bool = True,
) -> Completion:
    """Complete with the chosen provider, falling back on retryable errors (``LLM_FALLBACKS``)
    unless ``fallbacks`` is off."""
    primary, model_name = resolve(provider, model)
    try:
        return primary.complete(prompt, model=model_name)
    except ProviderError as err:
        if not (err.retryable and fallbacks):
            raise
        failed, last_error = primary.name, err
    for fallback in _fallbacks(primary.name):
        _log_fallback(failed, last_error, fallback.name)
        try:
            return fallback.complete(prompt, model=fallback.config.default_model)
        except ProviderError as err:
            failed, last_error = fallback.name, err
    raise last_error


def stream(
    prompt: Prompt,
    *,
    provider: str | None = None,
    model: str | None = None,
    fallbacks: bool = True,
) -> Iterator[StreamEvent]:
    """Stream from the chosen provider; fall back only while nothing has been yielded.

    Resolution happens now, so a disallowed model raises here rather than on the first
    ``next()``. Once a delta reached the caller, switching models mid-answer would garble it,
    so a later failure is raised as is.
    """
    primary, model_name = resolve(provider, model)
    return _stream_with_fallbacks(prompt, primary, model_name, fallbacks)


def _stream_with_fallbacks(
    prompt: Prompt, primary: Provider, model_name: str, fallbacks: bool
) -> Iterator[StreamEvent]:
    started = False
    try:
        for event in primary.stream(prompt, model=model_name):
            started = True
            yield event
        return
    except ProviderError as err:
        if started or not (err.retryable and fallbacks):
            raise
        failed, last_error = primary.name, err
    for fallback in _fallbacks(primary.name):
        _log_fallback(failed, last_error, fallback.name)
        try:
            for event in fallback.stream(prompt, model=fallback.config.default_model):
                started = True
                yield event
            return
        except ProviderError as err:
            if started:
                raise
            failed, last_error = fallback.name, err
    raise last_error


def _fallbacks(failed: str) -> Iterator[Provider]:
    """The configured fallbacks other than ``failed``, in order, built only when reached."""
    tried = {failed}
    for name in settings.LLM_FALLBACKS:
        if name in tried or not is_configured(name):
            continue
        tried.add(name)
        try:
            provider = get(name)
        except ProviderNotConfigured as err:  # e.g. its SDK is not installed
            logger.warning("Skipping fallback provider %s: %s", name, err)
            continue
        yield provider


def _log_fallback(failed: str, error: ProviderError, fallback: str) -> None:
    logger.warning(
        "Provider %s failed (%s: %s); falling back to %s", failed, error.code, error, fallback
    )


def _allow_list(default: str, models: list[str]) -> tuple[str, ...]:
    # The default model is always allowed: a deployment that names it has chosen it.
    return tuple(dict.fromkeys([default, *models]))


def _describe(allowed: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(models)}" for name, models in allowed.items())
