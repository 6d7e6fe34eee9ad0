"""Limits mean what they say on the embedded default too: `make run` serves with two workers,
and every worker counts against the same cache."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from accounts.services import user_register
from tests.conftest import PASSWORD
from tests.live_server import live_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_chat_throttle_counts_the_requests_of_every_worker(tmp_path: Path):
    _, token = user_register(username="alice", password=PASSWORD)
    # CACHE_URL as the suite was given it: unset (the embedded default) or Redis.
    env = {"DATA_DIR": str(tmp_path), "THROTTLE_CHAT": "3/min", "LLM_PROVIDER": "local"}
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    with live_server(env, log=tmp_path / "server.log", workers=2) as server:
        statuses = []
        for n in range(8):
            # A connection per request, so the kernel hands them to both workers.
            with httpx2.Client(base_url=server.url, timeout=20) as client:
                response = client.post(
                    "/api/chat/",
                    json={"message": f"When do you open? ({n})"},
                    headers={"Authorization": f"Token {token.key}"},
                )
            statuses.append(response.status_code)

    assert statuses == [200, 200, 200] + [429] * 5, server.logs()
