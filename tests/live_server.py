"""A real Tally server for tests: uvicorn in a subprocess, sharing this process's test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
_running = 0  # servers on the test database right now (see `settle`)


@contextmanager
def running() -> Iterator[None]:
    """Count a server on the test database while the block runs."""
    global _running
    _running += 1
    try:
        yield
    finally:
        _running -= 1


def settle(timeout_s: float = 60.0, quiet_s: float = 1.0) -> None:
    """Wait until the running servers have remembered the chats they answered.

    A server remembers each exchange on a background thread after its response. The test
    database is flushed (TRUNCATE on PostgreSQL) when a test ends; racing a server's memory
    write, that can deadlock. Done when every answer has its memory, or when the count of
    memories stood still for ``quiet_s`` (a killed worker's queue is lost).
    """
    if not _running:
        return
    from chat.models import Message
    from retrieval.models import Chunk

    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        memories = Chunk.objects.filter(kind=Chunk.Kind.MEMORY).count()
        if memories >= Message.objects.filter(role=Message.Role.ASSISTANT).count():
            return
        if memories != last:
            last, since = memories, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.05)


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path

    def logs(self) -> str:
        """What the server has printed so far, for assertion messages."""
        return self.log.read_text(errors="replace")


def database_url() -> str:
    """The URL of the database this process uses: the test database once pytest set it up."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if connection.vendor == "postgresql":
        user = quote(db.get("USER") or "", safe="")
        if db.get("PASSWORD"):
            user += ":" + quote(db["PASSWORD"], safe="")
        host = quote(db.get("HOST") or "", safe="") + (f":{db['PORT']}" if db.get("PORT") else "")
        return f"postgres://{user + '@' if user else ''}{host}/{quote(db['NAME'], safe='')}"
    raise NotImplementedError(f"No live server for {connection.vendor} databases.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(
    env: Mapping[str, str], *, log: Path, startup_s: float = 20.0, workers: int = 1
) -> Iterator[LiveServer]:
    """Serve `config.asgi:application` with uvicorn on a free port until the block ends.

    `env` overrides this process's environment; `DATABASE_URL` defaults to the test database
    (so tests using it need `django_db(transaction=True)` for the server to see their rows).
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "2"]
    if workers > 1:
        command += ["--workers", str(workers)]
    environment = {**os.environ, "DATABASE_URL": database_url(), **env}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log)
    try:
        _wait_until_listening(process, port, startup_s, server)
        with running():
            yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, startup_s: float, server: LiveServer
) -> None:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{server.logs()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen on port {port} in {startup_s} s:\n{server.logs()}")
