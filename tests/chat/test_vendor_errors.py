"""A vendor's error body is logged for the operator and never echoed to the client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from providers import registry
from tests.chat.conftest import parse_sse
from tests.providers.fakes import FakeGemini, FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

SECRET = "org-4f9a internal quota for acct sk-live-SECRET-7731"


@pytest.fixture(params=["openai", "gemini"])
def vendor(request: pytest.FixtureRequest, settings: Any) -> Iterator[FakeOpenAI | FakeGemini]:
    """Chats go to one vendor's fake through its real SDK."""
    fake_class = FakeOpenAI if request.param == "openai" else FakeGemini
    with fake_class() as fake:
        settings.LLM_PROVIDER = request.param
        settings.LLM_FALLBACKS = []
        settings.LLM_TIMEOUT_S = 2.0
        if request.param == "openai":
            settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "sk-test", fake.base_url
            settings.OPENAI_MODEL, settings.OPENAI_MODELS = "gpt-fake", ["gpt-fake"]
        else:
            settings.GEMINI_API_KEY, settings.GEMINI_BASE_URL = "g-test", fake.base_url
            settings.GEMINI_MODEL, settings.GEMINI_MODELS = "gemini-fake", ["gemini-fake"]
        yield fake
    registry.reset()


@pytest.mark.parametrize(
    ("status", "http_status", "code"),
    [
        (400, 502, "provider_invalid_request"),
        (401, 502, "provider_auth_failed"),
        (429, 503, "provider_rate_limited"),
        (500, 502, "provider_unavailable"),
    ],
)
def test_the_vendors_error_body_is_logged_not_answered(
    user_api: APIClient,
    vendor: FakeOpenAI | FakeGemini,
    caplog: pytest.LogCaptureFixture,
    status: int,
    http_status: int,
    code: str,
):
    vendor.enqueue(*[Reply.failure(status, SECRET)] * 3)  # enough for any retry

    response = user_api.post("/api/chat/", {"message": "Hello?"}, format="json")

    assert response.status_code == http_status
    body = response.json()
    assert body["code"] == code
    assert SECRET not in response.content.decode()
    assert "sk-live" not in response.content.decode()
    assert str(status) in body["detail"]  # what the vendor answered, in plain words
    assert SECRET in caplog.text


def test_a_streamed_chat_does_not_echo_it_either(
    user_api: APIClient, vendor: FakeOpenAI | FakeGemini, caplog: pytest.LogCaptureFixture
):
    vendor.enqueue(*[Reply.failure(500, SECRET)] * 3)

    response = user_api.post("/api/chat/", {"message": "Hello?", "stream": True}, format="json")

    events = parse_sse(response)
    assert events[-1][0] == "error"
    assert SECRET not in str(events)
    assert SECRET in caplog.text
