"""The provider registry: which providers are configured, the allow-list, fallbacks, and the
system check that vets provider settings at startup."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from providers import registry
from providers.checks import check_providers
from providers.exceptions import (
    ModelNotAllowed,
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderNotConfigured,
    ProviderUnavailable,
)
from providers.types import Completion, TextDelta
from tests.providers.fakes import FakeGemini, FakeOpenAI, Reply
from tests.providers.samples import QUESTION


def check_ids(**kwargs: Any) -> list[str]:
    return [message.id for message in check_providers(**kwargs) if message.id]


# --- What is configured -------------------------------------------------------------------


def test_only_local_is_configured_without_vendor_settings(no_vendor_settings: Any) -> None:
    assert registry.configured() == ["local"]
    assert list(registry.allowed_models()) == ["local"]


def test_a_vendor_is_configured_by_its_key_or_its_base_url(no_vendor_settings: Any) -> None:
    no_vendor_settings.OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
    no_vendor_settings.GEMINI_API_KEY = "key"

    assert registry.configured() == ["local", "openai", "gemini"]


def test_allowed_models_list_the_default_first_and_the_allow_list(vendor_settings: Any) -> None:
    vendor_settings.OPENAI_MODELS = ["gpt-fake-large"]  # the default is allowed regardless

    allowed = registry.allowed_models()

    assert allowed["openai"] == ["gpt-fake-mini", "gpt-fake-large"]
    assert allowed["gemini"] == ["gemini-fake-flash"]


def test_one_adapter_is_built_per_process_and_reused(vendor_settings: Any) -> None:
    assert registry.get("openai") is registry.get("openai")


def test_changed_settings_rebuild_the_adapter(vendor_settings: Any) -> None:
    before = registry.get("openai")

    vendor_settings.LLM_TIMEOUT_S = 7.0

    after = registry.get("openai")
    assert after is not before
    assert after.config.timeout_s == 7.0


def test_getting_an_unconfigured_provider_names_the_setting(no_vendor_settings: Any) -> None:
    with pytest.raises(ProviderNotConfigured, match="GEMINI_API_KEY"):
        registry.get("gemini")


# --- Resolving a request's provider and model ---------------------------------------------


def test_resolve_defaults_to_llm_provider_and_its_default_model(vendor_settings: Any) -> None:
    vendor_settings.LLM_PROVIDER = "gemini"

    provider, model = registry.resolve(None, None)

    assert provider.name == "gemini"
    assert model == "gemini-fake-flash"


def test_with_nothing_configured_requests_go_to_the_offline_local_model(
    no_vendor_settings: Any,
) -> None:
    no_vendor_settings.LOCAL_MODEL = "tally-local-1"

    provider, model = registry.resolve(None, None)

    assert (provider.name, model) == ("local", "tally-local-1")


def test_resolve_accepts_an_allow_listed_model(vendor_settings: Any) -> None:
    provider, model = registry.resolve("openai", "gpt-fake-large")

    assert (provider.name, model) == ("openai", "gpt-fake-large")


def test_a_model_outside_the_allow_list_is_refused_with_what_is_allowed(
    vendor_settings: Any,
) -> None:
    with pytest.raises(ModelNotAllowed) as caught:
        registry.resolve("openai", "gpt-enormous")

    assert "gpt-enormous" in str(caught.value)
    assert "gpt-fake-mini" in str(caught.value)
    assert caught.value.allowed["openai"] == ["gpt-fake-mini", "gpt-fake-large"]
    assert caught.value.allowed["gemini"] == ["gemini-fake-flash"]


@pytest.mark.parametrize("name", ["anthropic", "gemini"])
def test_an_unknown_or_unconfigured_provider_is_refused(vendor_settings: Any, name: str) -> None:
    vendor_settings.GEMINI_API_KEY = ""
    vendor_settings.GEMINI_BASE_URL = ""

    with pytest.raises(ModelNotAllowed) as caught:
        registry.resolve(name, None)

    assert set(caught.value.allowed) == {"local", "openai"}
    assert "openai: gpt-fake-mini, gpt-fake-large" in str(caught.value)


def test_an_unconfigured_default_provider_is_a_deployment_error(no_vendor_settings: Any) -> None:
    no_vendor_settings.LLM_PROVIDER = "openai"

    with pytest.raises(ProviderNotConfigured, match="OPENAI_API_KEY"):
        registry.resolve(None, None)


# --- Completing, with fallbacks -----------------------------------------------------------


def test_openai_base_url_setting_points_the_sdk_at_a_compatible_server(
    vendor_settings: Any, fake_openai: FakeOpenAI
) -> None:
    assert vendor_settings.OPENAI_BASE_URL == f"http://127.0.0.1:{fake_openai.port}/v1"
    fake_openai.enqueue(Reply.answer("Served by a compatible server"))

    completion = registry.complete(QUESTION, provider="openai")

    assert completion.text == "Served by a compatible server"
    assert fake_openai.last_request.path == "/v1/chat/completions"


def test_a_retryable_error_falls_back_to_the_next_provider(
    vendor_settings: Any,
    fake_openai: FakeOpenAI,
    fake_gemini: FakeGemini,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vendor_settings.LLM_FALLBACKS = ["gemini"]
    fake_openai.enqueue(Reply.failure(500))
    fake_gemini.enqueue(Reply.answer("Gemini to the rescue"))

    with caplog.at_level(logging.WARNING, logger="providers.registry"):
        completion = registry.complete(QUESTION, provider="openai", model="gpt-fake-large")

    assert completion.text == "Gemini to the rescue"
    assert (completion.provider, completion.model) == ("gemini", "gemini-fake-flash")
    assert "falling back to gemini" in caplog.text


def test_a_timeout_falls_back_too(
    vendor_settings: Any, fake_openai: FakeOpenAI, fake_gemini: FakeGemini
) -> None:
    vendor_settings.LLM_TIMEOUT_S = 0.5
    vendor_settings.LLM_FALLBACKS = ["gemini"]
    fake_openai.enqueue(Reply.answer("too late", delay=3))
    fake_gemini.enqueue(Reply.answer("On time"))

    assert registry.complete(QUESTION, provider="openai").text == "On time"


@pytest.mark.parametrize(
    ("status", "error"), [(401, ProviderAuthError), (400, ProviderInvalidRequest)]
)
def test_a_non_retryable_error_never_falls_back(
    vendor_settings: Any,
    fake_openai: FakeOpenAI,
    fake_gemini: FakeGemini,
    status: int,
    error: type[Exception],
) -> None:
    vendor_settings.LLM_FALLBACKS = ["gemini"]
    fake_openai.enqueue(Reply.failure(status))

    with pytest.raises(error):
        registry.complete(QUESTION, provider="openai")

    assert fake_gemini.requests == []


def test_a_vendor_outage_can_fall_back_to_the_offline_local_model(
    vendor_settings: Any, fake_openai: FakeOpenAI
) -> None:
    vendor_settings.LLM_FALLBACKS = ["local"]
    fake_openai.enqueue(Reply.failure(503))

    completion = registry.complete(QUESTION, provider="openai")

    assert completion.provider == "local"
    assert completion.model == vendor_settings.LOCAL_MODEL


def test_fallbacks_skip_the_failed_and_unconfigured_providers(
    vendor_settings: Any, fake_openai: FakeOpenAI, fake_gemini: FakeGemini
) -> None:
    vendor_settings.LLM_FALLBACKS = ["openai", "nonexistent", "gemini"]
    fake_openai.enqueue(Reply.failure(503))
    fake_gemini.enqueue(Reply.answer("Fallback answer"))

    completion = registry.complete(QUESTION, provider="openai")

    assert completion.provider == "gemini"
    assert len(fake_openai.chat_requests()) == 1


def test_the_last_error_is_raised_when_every_fallback_fails(
    vendor_settings: Any, fake_openai: FakeOpenAI, fake_gemini: FakeGemini
) -> None:
    vendor_settings.LLM_FALLBACKS = ["gemini"]
    fake_openai.enqueue(Reply.failure(500))
    fake_gemini.enqueue(Reply.failure(503))

    with pytest.raises(ProviderUnavailable) as caught:
        registry.complete(QUESTION, provider="openai")

    assert caught.value.provider == "gemini"


def test_without_fallbacks_a_retryable_error_is_raised(
    vendor_settings: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(Reply.failure(500))

    with pytest.raises(ProviderUnavailable):
        registry.complete(QUESTION, provider="openai")


# --- Streaming, with fallbacks ------------------------------------------------------------


def test_stream_falls_back_when_the_first_provider_fails_before_answering(
    vendor_settings: Any, fake_openai: FakeOpenAI, fake_gemini: FakeGemini
) -> None:
    vendor_settings.LLM_FALLBACKS = ["gemini"]
    fake_openai.enqueue(Reply.failure(502))
    fake_gemini.enqueue(Reply.answer("Streamed by Gemini"))

    events = list(registry.stream(QUESTION, provider="openai"))

    *deltas, final = events
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "Streamed by Gemini"
    assert isinstance(final, Completion)
    assert final.provider == "gemini"


def test_stream_falls_back_only_before_the_first_delta(
    vendor_settings: Any, fake_openai: FakeOpenAI, fake_gemini: FakeGemini
) -> None:
    vendor_settings.LLM_FALLBACKS = ["gemini"]
    fake_openai.enqueue(Reply.answer("one two three", error_after_chunks=1))
    received: list[str] = []

    with pytest.raises(ProviderUnavailable):
        for event in registry.stream(QUESTION, provider="openai"):
            if isinstance(event, TextDelta):
                received.append(event.text)

    assert received == ["one"]
    assert fake_gemini.requests == []


def test_stream_refuses_a_disallowed_model_when_called_not_when_iterated(
    vendor_settings: Any,
) -> None:
    with pytest.raises(ModelNotAllowed):
        registry.stream(QUESTION, provider="openai", model="gpt-enormous")


# --- The system check ---------------------------------------------------------------------


def test_check_passes_when_providers_are_configured(vendor_settings: Any) -> None:
    vendor_settings.LLM_PROVIDER = "openai"
    vendor_settings.LLM_FALLBACKS = ["gemini"]

    assert check_ids() == []


def test_check_reports_a_missing_key_for_the_default_provider(no_vendor_settings: Any) -> None:
    no_vendor_settings.LLM_PROVIDER = "openai"

    (error,) = check_providers()

    assert error.id == "providers.E002"
    assert "OPENAI_API_KEY" in (error.hint or "")


def test_check_reports_an_unknown_default_provider(no_vendor_settings: Any) -> None:
    no_vendor_settings.LLM_PROVIDER = "openia"

    (error,) = check_providers()

    assert error.id == "providers.E001"
    assert "LLM_PROVIDER" in (error.hint or "")


def test_check_reports_unknown_fallbacks_and_warns_of_unconfigured_ones(
    vendor_settings: Any,
) -> None:
    vendor_settings.GEMINI_API_KEY = ""
    vendor_settings.GEMINI_BASE_URL = ""
    vendor_settings.LLM_PROVIDER = "openai"
    vendor_settings.LLM_FALLBACKS = ["claude", "gemini"]

    assert check_ids() == ["providers.E003", "providers.W001"]


def test_check_reports_a_missing_sdk_with_the_install_command(
    vendor_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor_settings.LLM_PROVIDER = "openai"
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail

    (error,) = check_providers()

    assert error.id == "providers.E004"
    assert "pip install openai" in error.msg


def test_manage_py_check_fails_on_a_missing_key(no_vendor_settings: Any) -> None:
    no_vendor_settings.LLM_PROVIDER = "gemini"

    with pytest.raises(SystemCheckError, match="GEMINI_API_KEY"):
        call_command("check", tags=["providers"])
