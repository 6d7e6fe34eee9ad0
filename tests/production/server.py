"""Real servers for the production tests: uvicorn with several workers, and a throwaway Redis
that a test may kill and start again."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from tests.live_server import ROOT, database_url, free_port, running


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The worker processes uvicorn's supervisor has spawned, oldest first."""
        return sorted(
            pid
            for pid in children(self.process.pid)
            if b"spawn_main" in _read(f"/proc/{pid}/cmdline")
        )

    def kill_worker(self) -> int:
        """SIGKILL the busiest worker, as the OOM killer would; the supervisor starts another.

        The busiest is the one with the most open sockets (clients and database connections),
        so the kill lands on requests in flight.
        """
        pid = max(self.worker_pids(), key=_open_sockets)
        os.kill(pid, signal.SIGKILL)
        return pid


def _open_sockets(pid: int) -> int:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return -1
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:  # the process is gone
        return b""


def children(parent: int) -> list[int]:
    """Pids whose parent is `parent`, from /proc (no psutil needed)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            # "pid (comm) state ppid …": comm may hold spaces, so split after its last ")".
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == parent:
                found.append(int(entry))
    return found


@contextmanager
def uvicorn_server(
    env: Mapping[str, str],
    *,
    workers: int,
    log: Path,
    database: str | None = None,
    startup_s: float = 90.0,
) -> Iterator[Server]:
    """Serve Tally with `workers` uvicorn processes on a free port until the block ends.

    `database` defaults to this process's test database; its rows are only visible to the
    server once committed, so tests need `django_db(transaction=True)`.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--no-access-log", "--log-level", "warning"]
    command += ["--timeout-graceful-shutdown", "2"]
    environment = {
        **os.environ,
        "DATABASE_URL": database or database_url(),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_until_serving(server, workers=workers, timeout_s=startup_s)
        with running():
            yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for pid in children(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()


def wait_until_serving(server: Server, *, workers: int, timeout_s: float) -> None:
    """Until every worker is up and the health check answers (whatever it says)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.process.returncode}:\n{server.logs()}")
        if len(server.worker_pids()) >= workers:
            try:
                httpx2.get(f"{server.url}/api/health/", timeout=5)
                return
            except httpx2.TransportError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"uvicorn was not serving in {timeout_s} s:\n{server.logs()}")


def migrate(database: str, *, data_dir: Path) -> None:
    """Create the schema of a database no test runner set up (say, a fresh SQLite file)."""
    subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database, "DATA_DIR": str(data_dir)},
        check=True,
        timeout=300,
    )


class RedisServer:
    """A redis-server on a free port with no persistence, which can be stopped and restarted."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(  # noqa: S603 - the redis-server on PATH
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    redis = RedisServer(directory)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()
