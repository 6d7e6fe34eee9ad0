"""In-process looks at one chat, run by `bench/run.py` with the server's environment: the SQL
queries it makes (Django's `CaptureQueriesContext`), where its time goes (pyinstrument, a dev
dependency) and what retrieval costs over the shared chunks on its own.

    python bench/probe.py USERS_JSONL QUESTIONS_JSON --out probe.json [--profile-chats 100]

Requests go through Django's test client (the same views, middleware and database as the
server, without HTTP), as follow-ups in the users' 50-message conversations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from core import tasks  # noqa: E402
from retrieval import selectors  # noqa: E402


def _chat(client: Client, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/api/chat/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    if response.status_code != 200:
        raise SystemExit(f"chat answered {response.status_code}: {response.content[:300]!r}")
    return response.json()


def queries(users: list[dict[str, Any]], questions: list[str]) -> dict[str, Any]:
    """The SQL of one chat of each kind, and of the floor, after a warm-up."""
    client = Client()
    user = users[0]
    for question in questions[:3]:  # loads the indexes and the catalog vectors
        body = {"message": question, "conversation": user["long_conversation"]}
        _chat(client, user["token"], body)
    found: dict[str, Any] = {}
    cases = {
        "chat_follow_up_50": {"message": questions[3], "conversation": user["long_conversation"]},
        "chat_follow_up_5": {"message": questions[4], "conversation": user["short_conversation"]},
        "chat_new": {"message": questions[5]},
    }
    for name, body in cases.items():
        tasks.drain(timeout=30)  # the previous chat's memory is written, as between requests
        with CaptureQueriesContext(connection) as captured:
            answer = _chat(client, user["token"], body)
        found[name] = {
            "count": len(captured.captured_queries),
            "queries": [_query(q) for q in captured.captured_queries],
            "sources": sorted({s["kind"] for s in answer.get("sources", [])}),
        }
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/tokens/", HTTP_AUTHORIZATION=f"Token {user['token']}")
    found["floor"] = {
        "count": len(captured.captured_queries),
        "queries": [_query(q) for q in captured.captured_queries],
    }
    return found


def _query(captured: dict[str, str]) -> dict[str, Any]:
    return {"sql": " ".join(captured["sql"].split()), "ms": float(captured["time"]) * 1000}


def retrieval(users: list[dict[str, Any]], questions: list[str]) -> dict[str, Any]:
    """`retrieval.selectors.passages_for` on its own: embed, search the shared index, hydrate;
    with faiss's default OpenMP threads, then with one thread."""
    import faiss

    user = User.objects.get(username=users[0]["username"])
    selectors.passages_for(user, questions[0])  # warm: loads the index
    found: dict[str, Any] = {"threads": faiss.omp_get_max_threads()}
    for label in ("default", "one_thread"):
        if label == "one_thread":
            faiss.omp_set_num_threads(1)
        times, hits = [], 0
        for number in range(200):
            began = time.perf_counter()
            passages = selectors.passages_for(user, questions[number % len(questions)])
            times.append((time.perf_counter() - began) * 1000)
            hits += bool(passages)
        times.sort()
        found[label] = {
            "queries": len(times),
            "with_hits": hits,
            "p50_ms": times[len(times) // 2],
            "p99_ms": times[int(len(times) * 0.99) - 1],
        }
    return found


def profile(
    users: list[dict[str, Any]], questions: list[str], *, chats: int, text_out: Path
) -> dict[str, Any]:
    """Profile ``chats`` follow-ups; the functions with the most self time, and the project's
    own functions by total time."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return {"error": "pyinstrument is not installed (.venv/bin/pip install pyinstrument)"}
    client = Client()
    # One chat for each user first: the server's workers hold every active user's index, so
    # the profile should not be of loading them.
    for user in users[:chats]:
        _chat(
            client,
            user["token"],
            {"message": questions[0], "conversation": user["long_conversation"]},
        )
    tasks.drain(timeout=30)  # their memories written: the profile is of the chats that follow
    profiler = Profiler(interval=0.0005)
    began = time.perf_counter()
    profiler.start()
    for number in range(chats):
        user = users[number % len(users)]
        question = questions[number % len(questions)]
        body = {"message": question, "conversation": user["long_conversation"]}
        _chat(client, user["token"], body)
    profiler.stop()
    elapsed = time.perf_counter() - began
    text_out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    own: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    _walk(root, own, total, active=set())
    whole = root.time if root is not None else 1.0
    return {
        "chats": chats,
        "ms_per_chat": elapsed * 1000 / chats,
        "self": [(name, t / whole) for name, t in sorted(own.items(), key=lambda i: -i[1])[:15]],
        "project": [
            (name, t / whole)
            for name, t in sorted(total.items(), key=lambda i: -i[1])
            if _is_project(name)
        ][:15],
    }


def _walk(frame: Any, own: dict[str, float], total: dict[str, float], active: set[str]) -> None:
    if frame is None or frame.is_synthetic:  # "[self]" leaves: already in total_self_time
        return
    name = f"{frame.function} ({_short(frame.file_path)}:{frame.line_no})"
    own[name] += frame.total_self_time
    if name not in active:  # a recursive call is counted once
        total[name] += frame.time
    for child in frame.children:
        _walk(child, own, total, active | {name})


def _short(path: str | None) -> str:
    if not path:
        return "?"
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


_PROJECT = ("accounts/", "billing/", "chat/", "config/", "orders/", "providers/", "retrieval/")


def _is_project(name: str) -> bool:
    location = name.rsplit("(", 1)[-1]
    return location.startswith(_PROJECT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("users", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile-chats", type=int, default=100)
    args = parser.parse_args()
    users = [json.loads(line) for line in args.users.read_text().splitlines()]
    questions = json.loads(args.questions.read_text())
    selectors.passages_for(User.objects.get(username=users[0]["username"]), questions[0])
    result = {
        "queries": queries(users, questions),
        "profile": profile(
            users,
            questions,
            chats=args.profile_chats,
            text_out=args.out.with_suffix(".profile.txt"),
        ),
        # Last: it changes faiss's thread count for this process.
        "retrieval": retrieval(users, questions),
    }
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
