"""Fake vendor HTTP servers on 127.0.0.1 that the real SDKs talk to, reusable by any test package.

with FakeOpenAI() as fake:
    fake.enqueue(Reply.answer("Hi"))
    settings.OPENAI_BASE_URL = fake.base_url
"""

from __future__ import annotations

from tests.providers.fakes.gemini_server import FakeGemini
from tests.providers.fakes.openai_server import FakeOpenAI
from tests.providers.fakes.server import FakeToolCall, RecordedRequest, Reply

__all__ = ["FakeGemini", "FakeOpenAI", "FakeToolCall", "RecordedRequest", "Reply"]
