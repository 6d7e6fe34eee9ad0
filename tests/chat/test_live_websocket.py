"""Chat over WebSocket through a real two-worker uvicorn with the Redis channel layer: a
question asked on a socket one worker serves is seen, as it is answered, on the same user's
socket that the other worker serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from accounts import services as accounts
from accounts.models import ApiToken
from chat.models import LiveSocket
from tests.chat.test_live_streaming import wait_for
from tests.conftest import PASSWORD
from tests.live_server import LiveServer, live_server
from tests.production.server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)  # the server reads what the test commits


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {
        "LLM_PROVIDER": "local",
        "LLM_FALLBACKS": "",
        "CHANNEL_LAYER_URL": redis.url,
        "THROTTLE_CHAT": "1000/min",
        "WS_MAX_SOCKETS_PER_USER": "40",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    log: Path = tmp_path_factory.mktemp("uvicorn") / "server.log"
    with live_server(env, log=log, workers=2) as running:
        yield running


def open_socket(
    sockets: ExitStack, server: LiveServer, token: str, path: str = "/ws/chat/"
) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + path
    protocols: Any = ["tally", f"tally.token.{token}"]
    socket = sockets.enter_context(connect(url, subprotocols=protocols, open_timeout=10))
    assert json.loads(socket.recv(timeout=10))["type"] == "ready"
    return socket


def events_until_done(socket: ClientConnection) -> list[dict[str, Any]]:
    events = [json.loads(socket.recv(timeout=20))]
    while events[-1]["type"] not in ("done", "error"):
        events.append(json.loads(socket.recv(timeout=20)))
    return [e for e in events if e["type"] != "following"]


def worker_of(channel_name: str) -> str:
    """The process a socket is served by: channels_redis names a process's channels
    `specific.<the process's own prefix>!<channel>`."""
    return channel_name.split("!")[0]


def test_a_question_on_one_worker_is_answered_live_on_the_other(server: LiveServer) -> None:
    user, token = accounts.user_register(username="two-devices", password=PASSWORD)
    sockets = ExitStack()
    asker = open_socket(sockets, server, token.key)
    asker.send(json.dumps({"type": "message", "message": "Hello! My name is John."}))
    conversation = events_until_done(asker)[-1]["conversation"]
    asker_worker = worker_of(LiveSocket.objects.get(user=user).channel_name)

    # Open sockets on the conversation until the other worker serves one.
    watchers: dict[str, ClientConnection] = {}
    for _ in range(30):
        known = set(LiveSocket.objects.values_list("channel_name", flat=True))
        socket = open_socket(sockets, server, token.key, f"/ws/chat/{conversation}/")
        (new,) = set(LiveSocket.objects.values_list("channel_name", flat=True)) - known
        watchers.setdefault(worker_of(new), socket)
        if len(watchers) == 2:
            break
    other = next(s for worker, s in watchers.items() if worker != asker_worker)

    asker.send(json.dumps({"type": "message", "message": "What did I just say?"}))
    asked, seen = events_until_done(asker), events_until_done(other)

    assert seen[0]["type"] == "user" and seen[0]["message"] == "What did I just say?"
    assert seen[1:] == asked
    assert asked[-1]["type"] == "done"
    assert "Hello! My name is John." in asked[-1]["message"]
    sockets.close()
    assert wait_for(lambda: not LiveSocket.objects.filter(user=user).exists())


def test_a_socket_left_open_is_closed_when_its_token_is_revoked(server: LiveServer) -> None:
    user, token = accounts.user_register(username="revoked", password=PASSWORD)
    sockets = ExitStack()
    socket = open_socket(sockets, server, token.key)

    ApiToken.objects.filter(user=user).delete()  # what logging out everywhere does
    socket.send(json.dumps({"type": "message", "message": "Hi"}))

    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    sockets.close()
