"""How many chats one box holds while they wait on a slow model: the capacity row.

    python bench/capacity.py [--model-s 10] [--workers 4] [--steps 250,500,1000,1500,2000]
                             [--no-postgres] [--plain] [--set KEY=VALUE ...]

Serves Tally with `--workers` uvicorn workers (on a throwaway PostgreSQL database and Redis
when they answer on 127.0.0.1, else the embedded SQLite default) in front of the fake
OpenAI-compatible model answering after `--model-s` seconds, then for each step sends that
many streamed chats at once (plain JSON chats with `--plain`) and counts those that end with
`done`. It stops at the first step with an error. For each step it prints the wall time, the
outcome, PostgreSQL's peak connections to the bench database, and each worker's peak resident
memory (RSS). One line per step, then "CAPACITY {json}".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402


def main() -> None:
    args = _arguments()
    # Thousands of sockets in this process, the fake model's and each worker's.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    steps = [int(n) for n in args.steps.split(",")]
    use_postgres = not args.no_postgres and servers.reachable("127.0.0.1", 5432)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        database = servers.postgres_database() if use_postgres else nullcontext(_sqlite(data_dir))
        cache = (
            servers.redis_database()
            if use_postgres and servers.reachable("127.0.0.1", 6379)
            else nullcontext(f"filecache://{data_dir / 'cache'}")
        )
        with database as database_url, cache as cache_url:
            env = _environment(data_dir, database_url, cache_url, args)
            servers.python(env, "manage.py", "migrate", "--noinput", "-v0")
            log = data_dir / "server.log"
            with (
                servers.fake_model(args.model_s * 1000, log=data_dir / "fake.log") as model,
                servers.tally_server(
                    {**env, "OPENAI_BASE_URL": model}, log=log, workers=args.workers
                ) as url,
            ):
                token = _register(url)
                rows = []
                for n in steps:
                    row = _step(url, token, n, args, database_url if use_postgres else None)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if row["errors"]:
                        break
                    time.sleep(2)  # the last step's stream threads end
    held = [row["chats"] for row in rows if not row["errors"]]
    print("CAPACITY " + json.dumps({"most_completed": max(held, default=0), "steps": rows}))


def _step(
    url: str, token: str, n: int, args: argparse.Namespace, database_url: str | None
) -> dict[str, Any]:
    workers = _worker_pids(url)
    with _peaks(workers, database_url) as peaks:
        started = time.monotonic()
        outcomes = asyncio.run(_fire(url, token, n, stream=not args.plain))
        took = time.monotonic() - started
    counts = Counter(outcomes)
    return {
        "chats": n,
        "stream": not args.plain,
        "model_s": args.model_s,
        "wall_s": round(took, 1),
        "outcomes": dict(counts),
        "errors": n - counts.get("done" if not args.plain else "200", 0),
        "peak_db_connections": peaks["db"],
        "worker_rss_mb": sorted(round(kb / 1024) for kb in peaks["rss"].values()),
    }


async def _fire(url: str, token: str, n: int, *, stream: bool) -> list[str]:
    limits = httpx2.Limits(max_connections=n, max_keepalive_connections=0)
    timeout = httpx2.Timeout(300, connect=60)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def one(i: int) -> str:
            try:
                response = await client.post(
                    "/api/chat/",
                    json={"message": f"Do you deliver on Sundays? ({i})", "stream": stream},
                    headers={"Authorization": f"Token {token}"},
                )
            except httpx2.TransportError as exc:
                return type(exc).__name__
            if not stream or response.status_code != 200:
                return str(response.status_code)
            events = [line for line in response.text.splitlines() if line.startswith("event: ")]
            return events[-1].removeprefix("event: ") if events else "empty"

        return await asyncio.gather(*(one(i) for i in range(n)))


@contextmanager
def _peaks(workers: list[int], database_url: str | None) -> Iterator[dict[str, Any]]:
    """Samples each worker's RSS and PostgreSQL's connections while the block runs."""
    peaks: dict[str, Any] = {"rss": dict.fromkeys(workers, 0), "db": None}
    done = threading.Event()

    def sample() -> None:
        conn = None
        if database_url is not None:
            import psycopg

            conn = psycopg.connect(database_url.replace("postgres://", "postgresql://"))
            peaks["db"] = 0
        while not done.is_set():
            for pid in workers:
                peaks["rss"][pid] = max(peaks["rss"][pid], _rss_kb(pid))
            if conn is not None:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
                peaks["db"] = max(peaks["db"], row[0] if row else 0)
            done.wait(0.1)
        if conn is not None:
            conn.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peaks
    finally:
        done.set()
        sampler.join(timeout=5)


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _worker_pids(url: str) -> list[int]:
    """uvicorn's worker processes serving ``url``: children of the supervisor on its port."""
    port = url.rsplit(":", 1)[1]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                cmdline = file.read()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            parent = _parent_cmdline(int(entry))
            if b"uvicorn" in parent and port.encode() in parent:
                found.append(int(entry))
    return sorted(found)


def _parent_cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        with open(f"/proc/{ppid}/cmdline", "rb") as file:
            return file.read()
    except OSError:
        return b""


def _register(url: str) -> str:
    response = httpx2.post(
        f"{url}/api/register/",
        json={"username": "capacity", "password": "correct-horse-battery-staple"},
        timeout=60,
    )
    response.raise_for_status()
    return str(response.json()["token"])


def _sqlite(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'tally.sqlite3'}"


def _environment(
    data_dir: Path, database_url: str, cache_url: str, args: argparse.Namespace
) -> dict[str, str]:
    return {
        **servers.fake_vendor_environment(data_dir, database_url, cache_url),
        "LLM_TIMEOUT_S": str(args.model_s * 6),
        "MAX_INFLIGHT_CHATS": str(args.max_inflight),
        **dict(item.partition("=")[::2] for item in args.set),
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-s", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--steps", default="250,500,1000,1500,2000")
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=1000,
        help="MAX_INFLIGHT_CHATS per worker (the kernel does not share chats out evenly)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for Tally"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--plain", action="store_true", help="JSON chats instead of streams")
    return parser.parse_args()


if __name__ == "__main__":
    main()
