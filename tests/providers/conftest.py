"""Fixtures for provider tests: running vendor fakes, settings pointing the registry at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from providers import registry
from tests.providers.fakes import FakeGemini, FakeOpenAI
from tests.providers.samples import GEMINI_KEY, OPENAI_KEY


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(required_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini(required_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture
def vendor_settings(
    settings: Any, fake_openai: FakeOpenAI, fake_gemini: FakeGemini
) -> Iterator[Any]:
    """Both vendors configured against their fakes, ``local`` the default, no fallbacks yet."""
    settings.LLM_PROVIDER = "local"
    settings.LLM_FALLBACKS = []
    settings.LLM_TIMEOUT_S = 2.0
    settings.LLM_MAX_OUTPUT_TOKENS = 256
    settings.OPENAI_API_KEY = OPENAI_KEY
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = "gpt-fake-mini"
    settings.OPENAI_MODELS = ["gpt-fake-mini", "gpt-fake-large"]
    settings.GEMINI_API_KEY = GEMINI_KEY
    settings.GEMINI_BASE_URL = fake_gemini.base_url
    settings.GEMINI_MODEL = "gemini-fake-flash"
    settings.GEMINI_MODELS = ["gemini-fake-flash"]
    yield settings
    registry.reset()


@pytest.fixture
def no_vendor_settings(settings: Any) -> Any:
    """Neither vendor configured, whatever the developer's environment says."""
    settings.LLM_PROVIDER = "local"
    settings.LLM_FALLBACKS = []
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.GEMINI_API_KEY = ""
    settings.GEMINI_BASE_URL = ""
    return settings
