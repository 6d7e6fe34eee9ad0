"""A chat's server CPU at one client, in-process: the measure two trees are compared by.

    python bench/chat_cpu.py [--chats 300] [--warmup 30] [--tree PATH]

Runs in a fresh SQLite database and DATA_DIR of its own (the demo data, one user), and sends
follow-up chats in one conversation through Django's test client: the same views, middleware,
pipeline and database as the server, without HTTP. It prints the process CPU time per chat
(every thread's: the request's and the background memory writer's), so what a chat costs the
server. `--tree` measures another checkout (say, an older commit in a git worktree) with this
same script and data, so two versions can be measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "When are you open on Sunday?",
    "Do you deliver to the old town?",
    "Two margheritas and a coke, please",
    "What's in my order?",
    "Is the pepperoni spicy?",
    "Remove the coke",
    "Do you have gluten-free bases?",
    "How long does delivery take?",
]


def measure(chats: int, warmup: int) -> dict[str, float]:
    """Run in the tree to measure, with its settings pointed at a fresh database."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    client = Client()
    registered = client.post(
        "/api/register/",
        {"username": "cpu", "password": "correct-horse-battery-staple"},
        content_type="application/json",
    )
    if registered.status_code != 201:
        raise SystemExit(f"register answered {registered.status_code}: {registered.content!r}")
    auth = {"Authorization": f"Token {registered.json()['token']}"}
    conversation = None

    def chat(n: int) -> None:
        nonlocal conversation
        body = {"message": QUESTIONS[n % len(QUESTIONS)], "conversation": conversation}
        response = client.post("/api/chat/", body, content_type="application/json", headers=auth)
        if response.status_code != 200:
            raise SystemExit(f"chat answered {response.status_code}: {response.content!r}")
        conversation = response.json()["conversation"]

    for n in range(warmup):
        chat(n)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(chats):
        chat(n)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"chats": chats, "cpu_ms_per_chat": cpu / chats * 1000, "wall_ms": wall / chats * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        print(json.dumps(measure(args.chats, args.warmup)))
        return
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": str(args.tree),
            "DATA_DIR": data,
            "DATABASE_URL": f"sqlite:///{data}/tally.sqlite3",
            # Pinned for both trees: what is compared is the code, not the cache backend.
            "CACHE_URL": "locmemcache://cpu",
            "CHAT_CACHE_TTL": "0",
            "SIGNUP_TOKENS": "100000000",
            "THROTTLE_CHAT": "1000000/min",
            "LLM_PROVIDER": "local",
            "EMBEDDER": "hashing",
            "LOG_LEVEL": "WARNING",
            "DEBUG": "false",
        }
        command = [sys.executable, __file__, "--inside"]
        command += ["--chats", str(args.chats), "--warmup", str(args.warmup)]
        out = subprocess.run(  # noqa: S603 - this interpreter and script
            command, cwd=args.tree, env=env, capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(f"measuring {args.tree} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps({"tree": str(args.tree), **result}))


if __name__ == "__main__":
    main()
