"""The scriptable HTTP server both vendor fakes build on: a queue of replies, a record of the
requests received, and a thread serving 127.0.0.1 on a random port."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeToolCall:
    """A tool call the fake model makes. ``arguments`` may be a string to send malformed JSON."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    # Gemini only: the thought signature sent with the call (base64-encoded on the wire).
    signature: bytes | None = None


@dataclass
class Reply:
    """One scripted answer of a fake vendor.

    A 2xx reply answers with ``text`` and/or ``tool_calls``; any other status answers with the
    vendor's error body (``message``) and ``headers``. ``delay`` stalls before the answer (to
    provoke client timeouts), ``chunk_delay`` between streamed events after the first
    ``fast_events``; ``error_after_chunks`` ends a stream with the vendor's in-stream error
    event after that many text chunks. A ``dropped`` reply is no answer at all: the server
    closes the connection ("close") or resets it ("reset"), as one does when it times out a
    kept-alive connection just as a request arrives on it.
    """

    text: str = ""
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    usage: tuple[int, int] | None = (11, 7)  # None: the server reports no usage
    thinking_tokens: int = 0
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    fast_events: int = 1
    chunks: list[str] | None = None
    error_after_chunks: int | None = None
    finish_reason: str | None = None
    dropped: Literal["close", "reset"] | None = None

    @classmethod
    def answer(cls, text: str, **options: Any) -> Reply:
        return cls(text=text, **options)

    @classmethod
    def tool_call(cls, name: str, arguments: Mapping[str, Any] | str, **options: Any) -> Reply:
        call_options = {k: options.pop(k) for k in ("id", "signature") if k in options}
        return cls(tool_calls=[FakeToolCall(name, arguments, **call_options)], **options)

    @classmethod
    def hang_up(cls, how: Literal["close", "reset"] = "close") -> Reply:
        return cls(dropped=how)

    @classmethod
    def failure(cls, status: int, message: str = "", **options: Any) -> Reply:
        return cls(status=status, message=message or f"fake error {status}", **options)

    def text_chunks(self) -> list[str]:
        """The pieces a stream sends: ``chunks`` if given, else the text word by word."""
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [word if i == 0 else f" {word}" for i, word in enumerate(words) if self.text]


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received, for tests to assert what the SDK sent."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int = 0  # tells which connection it came on

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FakeVendorServer:
    """Serves one vendor's wire format until stopped; use as a context manager or via fixtures.

    Subclasses implement ``handle(request, reply_stream)``. Replies are taken from ``replies``
    in order; when it is empty ``default_reply`` answers.
    """

    default_reply = Reply(text="Hello from the fake.")

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.closing = threading.Event()
        self.resets: set[int] = set()  # connections to close without a FIN first
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def next_reply(self) -> Reply:
        with self._lock:
            return self.replies.popleft() if self.replies else self.default_reply

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def sleep(self, seconds: float) -> None:
        """Stall a handler; returns early when the server stops so tests never wait it out."""
        if seconds > 0:
            self.closing.wait(seconds)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the fake first"
        return self._httpd.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- to implement ------------------------------------------------------------------------

    def handle(self, request: RecordedRequest, out: Response) -> None:
        raise NotImplementedError


class Response:
    """What a handler writes: a JSON body, or a chunked server-sent-event stream."""

    def __init__(self, handler: BaseHTTPRequestHandler, fake: FakeVendorServer) -> None:
        self._handler = handler
        self._fake = fake

    def json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        handler = self._handler
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()

    def hang_up(self, how: Literal["close", "reset"]) -> None:
        """Answer nothing: close the connection, or reset it (SO_LINGER 0 sends an RST)."""
        handler = self._handler
        if how == "reset":
            connection = handler.connection
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._fake.resets.add(connection.fileno())
        handler.close_connection = True

    def sse(self, events: Iterator[str], *, chunk_delay: float = 0.0, fast_events: int = 1) -> None:
        """Send each event as one ``data:`` line, pausing ``chunk_delay`` before each event
        after the first ``fast_events``."""
        handler = self._handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for number, data in enumerate(events):
            if number >= fast_events and chunk_delay:
                self._fake.sleep(chunk_delay)
                if self._fake.closing.is_set():
                    return
            self._chunk(f"data: {data}\r\n\r\n".encode())
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self._handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self._handler.wfile.flush()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of chats may connect at once (the load tests)
    block_on_close = False
    fake: FakeVendorServer

    def shutdown_request(self, request: Any) -> None:
        if request.fileno() in self.fake.resets:
            self.fake.resets.discard(request.fileno())
            self.close_request(request)  # with SO_LINGER 0, the peer gets an RST
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts under test, pools closing) are expected, not failures.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, a kept-alive
    # client's delayed ACK would hold the body back ~40 ms, as no real vendor's server does.
    disable_nagle_algorithm = True
    # Idle keep-alive connections from SDK pools are closed after this, so threads end.
    timeout = 5

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client_port=self.client_address[1],
        )
        fake = cast(_QuietServer, self.server).fake
        fake.record(request)
        try:
            fake.handle(request, Response(self, fake))
        except ConnectionError:
            # The client gave up (a timeout under test): nothing left to answer.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass
