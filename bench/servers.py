"""The processes a benchmark run starts and stops: the Tally server (uvicorn, as `make serve`
runs it), the fake OpenAI-compatible model, Django commands and seeding against the bench
database, and a throwaway PostgreSQL database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cpu

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def python(env: Mapping[str, str], *args: str, quiet: bool = False) -> str:
    """Run a Python script or module of the project with ``env``; its stdout, or exit loudly."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [PYTHON, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if done.stderr.strip() and not quiet:
        print("   " + done.stderr.strip().replace("\n", "\n   "), file=sys.stderr)
    return done.stdout


def stats(env: Mapping[str, str]) -> dict[str, Any]:
    return json.loads(python(env, str(BENCH / "seed.py"), "stats"))


@contextmanager
def tally_server(env: Mapping[str, str], *, log: Path, workers: int = 2) -> Iterator[str]:
    """`uvicorn config.asgi:application --workers N` on a free port; yields its URL once
    /api/health/ answers 200."""
    port = free_port()
    command = [PYTHON, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    command += ["--log-level", "warning", "--timeout-graceful-shutdown", "5"]
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
        )
    url = f"http://127.0.0.1:{port}"
    cpu.OWN_GROUPS.add(process.pid)
    try:
        _wait_healthy(process, url, log)
        yield url
    finally:
        _stop_group(process)
        cpu.OWN_GROUPS.discard(process.pid)


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    healthy = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logs = log.read_text()[-3000:]
            raise SystemExit(f"uvicorn exited with {process.returncode}:\n{logs}")
        try:
            with urllib.request.urlopen(f"{url}/api/health/", timeout=5) as response:  # noqa: S310
                healthy += response.status == 200
        except (urllib.error.URLError, OSError):
            pass
        if healthy >= 4:  # a few answers, so that both workers are likely up
            return
        time.sleep(0.2)
    raise SystemExit(f"uvicorn did not become healthy at {url}:\n{log.read_text()[-3000:]}")


def _stop_group(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def fake_model(latency_ms: float, *, log: Path) -> Iterator[str]:
    """The fake OpenAI-compatible server in its own process; yields its base URL (…/v1)."""
    with log.open("ab") as err:
        process = subprocess.Popen(  # noqa: S603
            [PYTHON, str(BENCH / "fake_llm.py"), "--latency-ms", str(latency_ms)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    cpu.OWN_GROUPS.add(process.pid)
    try:
        line = process.stdout.readline() if process.stdout is not None else ""
        if not line.startswith("LISTENING "):
            raise SystemExit(f"the fake model did not start: {line!r}\n{log.read_text()[-2000:]}")
        yield line.split()[1]
    finally:
        if process.stdin is not None:
            process.stdin.close()  # it exits when stdin closes
        _stop_group(process)
        cpu.OWN_GROUPS.discard(process.pid)


@contextmanager
def redis_database(host: str = "127.0.0.1", port: int = 6379, db: int = 13) -> Iterator[str]:
    """A Redis database emptied before and after use, so no earlier run's keys are read."""
    import redis

    client = redis.Redis(host=host, port=port, db=db, socket_timeout=3)
    client.flushdb()
    try:
        yield f"redis://{host}:{port}/{db}"
    finally:
        client.flushdb()
        client.close()


@contextmanager
def postgres_database(host: str = "127.0.0.1", port: int = 5432) -> Iterator[str]:
    """A throwaway database on the local PostgreSQL (user postgres, trust auth), dropped after."""
    import psycopg

    name = f"tally_bench_{os.getpid()}"
    admin = f"host={host} port={port} user=postgres dbname=postgres connect_timeout=3"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fake_vendor_environment(data_dir: Path, database_url: str, cache_url: str) -> dict[str, str]:
    """Tally's settings for serving chats through the OpenAI adapter to the fake model (its
    OPENAI_BASE_URL is added once the fake runs): no throttle, no answer cache, wallets that
    never run dry, so that every request is a whole chat."""
    return {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "DEBUG": "false",
        "TALLY_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "LLM_PROVIDER": "openai",
        "LLM_FALLBACKS": "",
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_MODEL": "gpt-fake",
        "OPENAI_MODELS": "gpt-fake",
        "EMBEDDER": "hashing",
        "SIGNUP_TOKENS": str(10**9),
        "THROTTLE_CHAT": "100000000/min",
        "THROTTLE_SIGNUP": "1000/min",
        "CHAT_CACHE_TTL": "0",
    }
