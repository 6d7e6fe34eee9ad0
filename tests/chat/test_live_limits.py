"""Limits mean what they say on a real server: `make run` serves with two workers, and every
worker counts against the same cache; a worker holds at most `MAX_INFLIGHT_CHATS` chats."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest

from accounts.services import user_register
from tests.conftest import PASSWORD
from tests.live_server import live_server
from tests.providers.fakes import FakeOpenAI, Reply

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


def test_chats_past_what_a_worker_may_hold_get_503_with_retry_after_and_are_not_charged(
    tmp_path: Path,
):
    user, token = user_register(username="bob", password=PASSWORD)
    with FakeOpenAI() as model:
        # Slow enough that the first chats are still waiting when the rest arrive.
        model.default_reply = Reply.answer("We open at nine.", delay=2.0)
        env = {
            "DATA_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "127.0.0.1",
            "MAX_INFLIGHT_CHATS": "3",
            "THROTTLE_CHAT": "1000/min",
            "LLM_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_MODEL": "gpt-fake",
            "OPENAI_MODELS": "gpt-fake",
        }
        with live_server(env, log=tmp_path / "server.log", workers=1) as server:

            async def ten_at_once() -> list[httpx2.Response]:
                async with httpx2.AsyncClient(base_url=server.url, timeout=30) as client:
                    return await asyncio.gather(
                        *(
                            client.post(
                                "/api/chat/",
                                json={"message": f"When do you open? ({n})"},
                                headers={"Authorization": f"Token {token.key}"},
                            )
                            for n in range(10)
                        )
                    )

            responses = asyncio.run(ten_at_once())
            refused = [r for r in responses if r.status_code == 503]
            # The ones in flight finished; the next chat is served again.
            after = httpx2.post(
                f"{server.url}/api/chat/",
                json={"message": "And on Sunday?"},
                headers={"Authorization": f"Token {token.key}"},
                timeout=30,
            )

    assert sorted(r.status_code for r in responses) == [200] * 3 + [503] * 7, server.logs()
    assert {r.json()["code"] for r in refused} == {"overloaded"}
    assert {(r.headers["Retry-After"], r.json()["retry_after"]) for r in refused} == {("2", 2)}
    assert after.status_code == 200
    user.wallet.refresh_from_db()
    assert user.wallet.balance == 4000 - 4 * 100  # three answered chats and the one after
