"""Streamed chats through a real uvicorn server: events leave as the model writes them, and an
answer whose client hung up is still stored and charged once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest

from accounts.models import User
from accounts.services import user_register
from billing.models import LedgerEntry
from chat.models import Message, RequestLog
from tests.conftest import PASSWORD
from tests.live_server import LiveServer, live_server
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)  # the server reads what the test commits

T = TypeVar("T")

CHUNK_DELAY = 0.4  # the fake's pause before every streamed event after the first word


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_FALLBACKS": "",
        "LLM_TIMEOUT_S": "10",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_MODEL": "gpt-fake",
        "OPENAI_MODELS": "gpt-fake",
        "CHAT_COST": "100",
        "THROTTLE_CHAT": "1000/min",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    log: Path = tmp_path_factory.mktemp("uvicorn") / "server.log"
    with live_server(env, log=log) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_leftover_replies(fake: FakeOpenAI) -> None:
    fake.replies.clear()


def client_of(server: LiveServer, username: str) -> tuple[User, httpx2.Client]:
    user, token = user_register(username=username, password=PASSWORD)
    headers = {"Authorization": f"Token {token.key}"}
    return user, httpx2.Client(base_url=server.url, headers=headers, timeout=10)


def sse_events(response: httpx2.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a streamed response, each as soon as its block is complete."""
    buffer = ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            yield fields["event"], json.loads(fields["data"])


def wait_for(condition: Callable[[], T], timeout_s: float = 10.0) -> T:
    """Poll `condition` until it is truthy or time runs out; its last result either way."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


def test_the_first_delta_arrives_while_the_model_is_still_writing(
    server: LiveServer, fake: FakeOpenAI
):
    text = "We open at nine every day."  # six words: the fake needs 5 pauses to write them all
    fake.enqueue(Reply.answer(text, chunk_delay=CHUNK_DELAY, fast_events=2, usage=(321, 6)))
    user, http = client_of(server, "streamer")

    started = time.monotonic()
    arrivals = []
    with http, http.stream("POST", "/api/chat/", json={"message": "Hours?", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for name, data in sse_events(r):
            arrivals.append((name, data, time.monotonic() - started))

    names = [name for name, _, _ in arrivals]
    assert names[-1] == "done" and set(names[:-1]) == {"delta"}, names
    first_delta_at, (_, done, done_at) = arrivals[0][2], arrivals[-1]
    assert done_at >= 5 * CHUNK_DELAY  # done only after the model wrote its last word
    assert first_delta_at < done_at - 1.0, (first_delta_at, done_at)
    assert "".join(data["text"] for _, data, _ in arrivals[:-1]) == done["response"] == text
    assert done["tokens_charged"] == 100 and done["tokens_remaining"] == 3900
    assert done["usage"] == {"prompt_tokens": 321, "completion_tokens": 6, "counted": False}
    log = RequestLog.objects.get(user=user)
    assert log.status == "ok" and log.streamed
    assert (log.prompt_tokens, log.completion_tokens) == (321, 6)


def test_a_client_that_disconnects_mid_stream_still_gets_the_answer_stored(
    server: LiveServer, fake: FakeOpenAI
):
    text = "one two three four five six"
    fake.enqueue(Reply.answer(text, chunk_delay=0.3, fast_events=2))
    user, http = client_of(server, "leaver")

    with http, http.stream("POST", "/api/chat/", json={"message": "Go", "stream": True}) as r:
        name, _ = next(sse_events(r))
        assert name == "delta"
    # Hung up after the first word: the model has more to write, so nothing is stored yet.
    assert not RequestLog.objects.filter(user=user).exists()

    log = wait_for(lambda: RequestLog.objects.filter(user=user).first())
    assert log is not None, f"the answer was never stored; server log:\n{server.logs()}"
    assert (log.status, log.response_text, log.tokens_charged) == ("ok", text, 100)
    reply = Message.objects.get(conversation__user=user, role=Message.Role.ASSISTANT)
    assert reply.content == text
    kinds = LedgerEntry.objects.filter(wallet_id=user.pk).values_list("kind", flat=True)
    assert sorted(kinds) == ["chat_charge", "signup_grant"]


def test_a_plain_chat_and_health_of_the_server_work_through_uvicorn(
    server: LiveServer, fake: FakeOpenAI
):
    fake.enqueue(Reply.answer("We ship within two days.", usage=(40, 5)))
    user, http = client_of(server, "plain")

    with http:
        anonymous = httpx2.get(f"{server.url}/api/me/", timeout=10)
        me = http.get("/api/me/")
        chat = http.post("/api/chat/", json={"message": "How fast do you ship?"})

    assert anonymous.status_code == 401
    assert me.status_code == 200 and me.json()["tokens"] == 4000
    assert chat.status_code == 200 and chat.headers["content-type"] == "application/json"
    body = chat.json()
    assert body["response"] == "We ship within two days."
    assert (body["provider"], body["model"]) == ("openai", "gpt-fake")
    assert body["tokens_remaining"] == 3900
    assert RequestLog.objects.get(user=user).streamed is False
