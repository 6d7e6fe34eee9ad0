"""Fixtures of the production tests: the money settings the load generator checks against (a
Redis of the tests' own is `tests.conftest.redis`)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.production.load import CHATS_AFFORDED, COST


@pytest.fixture(autouse=True)
def _signup_tokens_and_quiet_clients(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.SIGNUP_TOKENS = COST * CHATS_AFFORDED
    settings.CHAT_COST = COST
    # A log line per request and per ledger entry would cost the load generator more CPU
    # than the chats do.
    for name in ("httpx2", "httpcore", "billing.services"):
        caplog.set_level(logging.WARNING, logger=name)
