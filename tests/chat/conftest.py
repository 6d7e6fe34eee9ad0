"""Fixtures for chat tests: the OpenAI fake as the configured model, and small helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from providers import registry
from tests.providers.fakes import FakeOpenAI


@pytest.fixture
def openai_model(settings: Any) -> Iterator[FakeOpenAI]:
    """Chats go to the fake OpenAI server through the real SDK."""
    with FakeOpenAI() as fake:
        settings.LLM_PROVIDER = "openai"
        settings.LLM_FALLBACKS = []
        settings.LLM_TIMEOUT_S = 1.0
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "gpt-fake"
        settings.OPENAI_MODELS = ["gpt-fake"]
        yield fake
    registry.reset()


@pytest.fixture(autouse=True)
def _local_by_default(settings: Any) -> None:
    settings.LLM_PROVIDER = "local"
    settings.LLM_FALLBACKS = []
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.GEMINI_API_KEY = ""
    settings.GEMINI_BASE_URL = ""


def parse_sse(raw: bytes | Any) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a Server-Sent Events body, or of a streamed test response."""
    if not isinstance(raw, bytes):
        raw = b"".join(raw.streaming_content)
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events
