"""How often the offline assistant leaves exactly the draft a customer asked for.

    python bench/ordering_eval.py [--data bench/data/ordering_eval.json] [--verbose]

Each conversation of the data file (turns, and the expected final draft as product name ->
quantity) is sent turn by turn through `POST /api/chat/` with Django's test client: the real
views, pipeline, offline provider, order tools and the demo catalog, in a fresh SQLite database
and DATA_DIR of its own, one new user per conversation. It prints the share of conversations
whose final draft is exactly the expected one and lists the others with what was left instead.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "ordering_eval.json"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - a throwaway user in a temporary database


def final_draft(user: Any) -> dict[str, int]:
    """The user's draft as product name -> quantity (lines with different notes summed)."""
    from orders.selectors import draft_of

    draft = draft_of(user=user)
    found: dict[str, int] = {}
    for item in draft.items.all() if draft is not None else []:
        found[item.product.name] = found.get(item.product.name, 0) + item.quantity
    return found


def run(conversations: list[Mapping[str, Any]], *, verbose: bool) -> int:
    """Drive every conversation; returns how many ended with exactly the expected draft."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from accounts import services as accounts

    # Password hashing is not what is measured here; a user costs ~0.3 s with PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Memories are written in the request, so none is still being written at the end.
    settings.TASKS = {
        **settings.TASKS,
        "background": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    }
    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0, stdout=io.StringIO())
    client = Client()
    right = 0
    for number, case in enumerate(conversations):
        user, issued = accounts.user_register(username=f"eval{number}", password=PASSWORD)
        auth = {"Authorization": f"Token {issued.key}"}
        conversation = None
        replies = []
        for turn in case["turns"]:
            body = {"message": turn, "conversation": conversation}
            response = client.post(
                "/api/chat/", body, content_type="application/json", headers=auth
            )
            if response.status_code != 200:
                raise SystemExit(f"chat answered {response.status_code}: {response.content!r}")
            conversation = response.json()["conversation"]
            replies.append(response.json()["response"])
        got, expected = final_draft(user), dict(case["expected"])
        if got == expected:
            right += 1
            continue
        print(f"FAIL {case['id']}: expected {expected}, got {got}")
        if verbose:
            for turn, reply in zip(case["turns"], replies, strict=True):
                print(f"    > {turn}\n      {reply}")
    return right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--verbose", action="store_true", help="show each failure's dialogue")
    args = parser.parse_args()
    conversations = json.loads(args.data.read_text())
    # A memory's index file may still be being written as the folder goes: nothing to keep.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as data:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATA_DIR": data,
                "DATABASE_URL": f"sqlite:///{data}/tally.sqlite3",
                "CACHE_URL": "locmemcache://ordering-eval",
                "CHAT_CACHE_TTL": "0",
                "THROTTLE_CHAT": "1000000/min",
                "SIGNUP_TOKENS": "100000",
                "LLM_PROVIDER": "local",
                "LOG_LEVEL": "WARNING",
                "DEBUG": "false",
            }
        )
        sys.path.insert(0, str(ROOT))
        right = run(conversations, verbose=args.verbose)
        total = len(conversations)
        print(f"exact final draft: {right}/{total} = {right / total:.1%}")


if __name__ == "__main__":
    main()
