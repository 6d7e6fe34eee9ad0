"""Request bodies over their limit are refused with 413 as they arrive, before anything reads
them: through the ASGI application itself, and through a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from config.asgi import application
from tests.live_server import LiveServer, live_server

CHUNK = 16 * 1024


class Client:
    """Drives one request through the ASGI application and records what happened."""

    def __init__(
        self, path: str, *, chunks: int, method: str = "POST", declared: int | None = None
    ) -> None:
        headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        if declared is not None:
            headers.append((b"content-length", str(declared).encode()))
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        self.chunks = chunks
        self.consumed = 0
        self.consumed_before_answer = -1
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.sent:  # the client read the early answer and hung up
            return {"type": "http.disconnect"}
        if self.consumed < self.chunks:
            self.consumed += 1
            return {
                "type": "http.request",
                "body": b" " * CHUNK,
                "more_body": self.consumed < self.chunks,
            }
        await asyncio.sleep(3600)  # the client waits for the answer
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if not self.sent:
            self.consumed_before_answer = self.consumed
        self.sent.append(message)

    def run(self) -> Client:
        asyncio.run(asyncio.wait_for(application(self.scope, self.receive, self.send), 30))
        return self

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def test_a_chunked_body_over_the_limit_is_refused_as_soon_as_it_passes_it(settings: Any):
    settings.MAX_REQUEST_BYTES = 4 * CHUNK

    client = Client("/api/login/", chunks=4000).run()  # 64 MB

    assert client.status == 413
    assert client.json()["code"] == "request_too_large"
    assert "limit of 65536 bytes" in client.json()["detail"]
    assert client.consumed_before_answer == 5  # the first chunk past the limit, and no more
    assert client.consumed == 5
    assert [m["type"] for m in client.sent[1:]] == ["http.response.body"] * 2  # the 413 only


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(settings: Any):
    settings.MAX_REQUEST_BYTES = 4 * CHUNK

    client = Client("/api/chat/", chunks=4000, declared=4000 * CHUNK).run()

    assert client.status == 413
    assert client.json()["code"] == "request_too_large"
    assert client.consumed_before_answer == 0


def test_a_body_that_understates_its_length_is_refused_past_the_limit(settings: Any):
    settings.MAX_REQUEST_BYTES = 4 * CHUNK

    client = Client("/api/register/", chunks=4000, declared=10).run()

    assert client.status == 413
    assert client.consumed_before_answer == 5


@pytest.mark.django_db
def test_a_body_within_the_limit_reaches_the_application(settings: Any):
    settings.MAX_REQUEST_BYTES = 4 * CHUNK

    client = Client("/api/health/", chunks=4, declared=4 * CHUNK).run()

    assert client.status == 405  # Django read it all and answered: POST is not allowed here
    assert client.consumed == 4


def test_uploads_have_the_upload_limit(settings: Any):
    settings.MAX_REQUEST_BYTES = 4 * CHUNK
    settings.MAX_UPLOAD_BYTES = 40 * CHUNK

    client = Client("/api/documents/", chunks=4000).run()

    assert client.status == 413
    assert client.json() == {
        "detail": f"The upload exceeds the limit of {40 * CHUNK} bytes.",
        "code": "too_large",
    }
    assert client.consumed_before_answer == 45  # the limit, 64 KiB of multipart slack, one more


def test_the_default_limit_holds_the_longest_chat_message(settings: Any):
    from django.conf import settings as live

    longest = json.dumps({"message": "\U0001f355" * live.CHAT_MAX_CHARS}).encode()

    assert len(longest) > 12 * live.CHAT_MAX_CHARS  # each pizza is a 12-byte escaped pair
    assert len(longest) < live.MAX_REQUEST_BYTES


# --- Against a real server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log: Path = tmp_path_factory.mktemp("uvicorn") / "server.log"
    with live_server({"ALLOWED_HOSTS": "127.0.0.1"}, log=log) as running:
        yield running


def _chunked_post(server: LiveServer, path: str, total: int) -> tuple[bytes, int]:
    """POST ``total`` bytes of chunked body, stopping when the server answers; returns the
    answer and how many body bytes were sent."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    sock.sendall(head.encode())
    piece = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    sent = 0
    answer = b""
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(piece)
            sent += 64 * 1024
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server closes the connection after it
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return answer, sent


@pytest.mark.django_db(transaction=True)
def test_a_64_mb_chunked_login_is_refused_early_and_the_server_goes_on(server: LiveServer):
    answer, sent = _chunked_post(server, "/api/login/", 64 * 1024 * 1024)

    assert answer.startswith(b"HTTP/1.1 413"), (answer, sent, server.logs())
    assert b'"code": "request_too_large"' in answer
    assert sent < 8 * 1024 * 1024  # the limit and the sockets' buffers, not 64 MB
    health = httpx2.get(f"{server.url}/api/health/", timeout=10)
    assert health.status_code == 200
