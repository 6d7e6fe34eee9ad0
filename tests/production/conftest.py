"""Fixtures of the production tests: the money settings the load generator checks against, and
a Redis of the tests' own."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.production.load import CHATS_AFFORDED, COST
from tests.production.server import RedisServer, redis_server


@pytest.fixture(autouse=True)
def _signup_tokens_and_quiet_clients(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.SIGNUP_TOKENS = COST * CHATS_AFFORDED
    settings.CHAT_COST = COST
    # A log line per request and per ledger entry would cost the load generator more CPU
    # than the chats do.
    for name in ("httpx2", "httpcore", "billing.services"):
        caplog.set_level(logging.WARNING, logger=name)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running
