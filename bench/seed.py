"""Seeding and inspecting the gateway benchmark's database, run by `bench/run.py` as a subprocess
with the server's environment (DATA_DIR, DATABASE_URL), so both see the same rows and files.

    python bench/seed.py users --count 20 --out users.jsonl          # users 0..19
    python bench/seed.py users --start 20 --count 180 --out more.jsonl
    python bench/seed.py chunks --total 100000                       # grow the shared scope
    python bench/seed.py questions --count 200 --out questions.json
    python bench/seed.py stats                                       # row counts, as JSON

Users get a huge wallet (one ledger grant), an API token and three conversations of earlier
turns (`--history`, `--short-history` and `--huge-history` messages). Chunks are synthetic
~1000-character texts (the corpus of `bench/retrieval_bench.py`), embedded with the hashing
embedder, written as shared document chunks in one transaction that bumps the scope's version;
then the shared index file is rebuilt under DATA_DIR, where the server's workers load it on
their next search.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from retrieval_bench import texts as corpus_texts  # noqa: E402  (bench/ is this script's folder)
from retrieval_bench import vocabulary  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_issue  # noqa: E402
from billing import services as billing  # noqa: E402
from billing.models import LedgerEntry  # noqa: E402
from chat.models import Conversation, Message, RequestLog  # noqa: E402
from providers.text import hashing_embed  # noqa: E402
from retrieval import index, indexing, vectors  # noqa: E402
from retrieval.models import SHARED_SCOPE, Chunk, Document, IndexState  # noqa: E402

BALANCE = 10**9
CORPUS_SEED = 7
CHUNKS_PER_DOCUMENT = 1000
_EMBED_BATCH = 10_000
_OWNER = "bench-librarian"

_TURNS = [
    (
        "user",
        "Hi, I am planning a party for twelve people next Saturday and want to know what the "
        "shop can do for groups, and how early I should order.",
    ),
    (
        "assistant",
        "Happy to help! For groups we suggest ordering a day ahead; large orders are baked in "
        "batches so everything arrives hot. Tell me what your guests like and I will suggest "
        "a mix of pizzas, sides and drinks.",
    ),
    ("user", "Some of them are vegetarian and two cannot eat gluten. What do you suggest?"),
    (
        "assistant",
        "The Margherita and the Funghi are vegetarian, and every pizza can be made on our "
        "gluten-free base. A garlic bread and a salad round it off nicely.",
    ),
]


def users(
    *, start: int, count: int, history: int, short_history: int, huge_history: int, out: Path
) -> None:
    """Users ``start``..``start+count-1`` with a wallet, a token and three conversations."""
    rows = []
    for number in range(start, start + count):
        with transaction.atomic():
            user = User(username=f"bench-{number:05d}", email=f"bench-{number}@example.com")
            user.set_unusable_password()  # hashing a password costs ~0.5 s; nobody logs in
            user.save()
            billing.grant(user=user, amount=BALANCE, note="benchmark")
            token = token_issue(user=user, name="bench")
            long_conv = _conversation(user, "Planning a party", history)
            short_conv = _conversation(user, "A quick question", short_history)
            huge_conv = _conversation(user, "A long story", huge_history)
        rows.append(
            {
                "username": user.username,
                "token": token.key,
                "long_conversation": long_conv.pk,
                "short_conversation": short_conv.pk,
                "huge_conversation": huge_conv.pk,
            }
        )
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    _checkpoint()
    print(f"seeded users {start}..{start + count - 1}", file=sys.stderr)


def _conversation(user: User, title: str, messages: int) -> Conversation:
    conversation = Conversation.objects.create(user=user, title=title)
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                role=_TURNS[number % len(_TURNS)][0],
                content=f"{_TURNS[number % len(_TURNS)][1]} (turn {number + 1})",
                provider="local",
                model="tally-local-1",
                status=Message.Status.OK,
            )
            for number in range(messages)
        ]
    )
    return conversation


def chunks(*, total: int) -> None:
    """Grow the shared scope to ``total`` document chunks and rebuild its index snapshot."""
    present = Chunk.objects.filter(scope=SHARED_SCOPE).count()
    if present >= total:
        print(f"shared scope already holds {present:,} chunks", file=sys.stderr)
        return
    began = time.perf_counter()
    texts = corpus_texts(total, vocabulary(), seed=CORPUS_SEED)[present:]
    matrix = np.vstack(
        [hashing_embed(texts[b : b + _EMBED_BATCH]) for b in range(0, len(texts), _EMBED_BATCH)]
    )
    embedded = time.perf_counter()
    owner = _librarian()
    with transaction.atomic():
        indexing.lock_scope(SHARED_SCOPE, embedder="hashing", dim=int(matrix.shape[1]))
        for begin in range(0, len(texts), CHUNKS_PER_DOCUMENT):
            number = (present + begin) // CHUNKS_PER_DOCUMENT + 1
            document = Document.objects.create(
                owner=owner,
                title=f"Handbook volume {number}",
                kind=Document.Kind.TXT,
                size=CHUNKS_PER_DOCUMENT * 1000,
                sha256=f"{number:064x}",
                status=Document.Status.READY,
                shared=True,
                text="(synthetic benchmark corpus: the text lives in the chunks)",
            )
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        document=document,
                        owner=owner,
                        shared=True,
                        scope=SHARED_SCOPE,
                        kind=Chunk.Kind.DOCUMENT,
                        ordinal=ordinal,
                        text=text,
                        vector=vectors.vector_bytes(row),
                    )
                    for ordinal, (text, row) in enumerate(
                        zip(
                            texts[begin : begin + CHUNKS_PER_DOCUMENT],
                            matrix[begin : begin + CHUNKS_PER_DOCUMENT],
                            strict=True,
                        )
                    )
                ],
                batch_size=500,
            )
        indexing.advance([SHARED_SCOPE])
    _checkpoint()
    written = time.perf_counter()
    loaded = index.rebuild(SHARED_SCOPE)
    snapshot = loaded.snapshot if loaded is not None else None
    kind = snapshot.kind if snapshot is not None else "in memory"
    print(
        f"shared scope: {present:,} -> {total:,} chunks ({kind}); "
        f"embed {embedded - began:.1f} s, insert {written - embedded:.1f} s, "
        f"index {time.perf_counter() - written:.1f} s",
        file=sys.stderr,
    )


def _checkpoint() -> None:
    """Fold SQLite's write-ahead log into the database now: otherwise the server's first
    writers after a bulk load pay for checkpointing hundreds of megabytes mid-measurement."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _librarian() -> User:
    owner = User.objects.filter(username=_OWNER).first()
    if owner is None:
        owner = User(username=_OWNER, is_staff=True)
        owner.set_unusable_password()
        owner.save()
    return owner


def questions(*, count: int, out: Path) -> None:
    """Questions sharing five less common words with one of the first 10k chunks (present at
    every corpus size), so retrieval finds real hits; phrased to ask the documents, not to
    order."""
    texts = corpus_texts(10_000, vocabulary(), seed=CORPUS_SEED)
    rng = np.random.default_rng(CORPUS_SEED + 1)
    frequent = {w for w, _ in _most_common(" ".join(texts[:2000]).split(), 200)}
    asked = []
    for pick in rng.integers(0, len(texts), size=count):
        words = sorted(set(texts[pick].split()) - frequent)
        chosen = rng.choice(words, size=min(5, len(words)), replace=False)
        asked.append(f"What do the handbooks say about {' '.join(chosen)}?")
    out.write_text(json.dumps(asked))


def _most_common(words: list[str], n: int) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])[:n]


def stats() -> None:
    """Row counts the runner compares before and after a load phase."""
    by_status = dict(
        Message.objects.order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    logs = dict(
        RequestLog.objects.order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    print(
        json.dumps(
            {
                "users": User.objects.count(),
                "conversations": Conversation.objects.count(),
                "messages": sum(by_status.values()),
                "messages_by_status": by_status,
                "request_logs": logs,
                "ledger_entries": LedgerEntry.objects.count(),
                "shared_chunks": Chunk.objects.filter(scope=SHARED_SCOPE).count(),
                "memory_chunks": Chunk.objects.filter(kind=Chunk.Kind.MEMORY).count(),
                "index_states": list(IndexState.objects.values_list("scope", "high")),
            }
        )
    )


def settle(*, quiet_s: float, timeout_s: float) -> None:
    """Wait until the server's background work (remembering answered chats) is done: the
    count of memories stood still for ``quiet_s``. Prints the seconds it was still working."""
    began = time.monotonic()
    last, since = -1, began
    while time.monotonic() - began < timeout_s:
        count = Chunk.objects.filter(kind=Chunk.Kind.MEMORY).count()
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.05)
    print(json.dumps({"busy_s": round(since - began, 3), "memories": last}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    users_cmd = commands.add_parser("users")
    users_cmd.add_argument("--start", type=int, default=0)
    users_cmd.add_argument("--count", type=int, required=True)
    users_cmd.add_argument("--history", type=int, default=50)
    users_cmd.add_argument("--short-history", type=int, default=5)
    users_cmd.add_argument("--huge-history", type=int, default=500)
    users_cmd.add_argument("--out", type=Path, required=True)
    chunks_cmd = commands.add_parser("chunks")
    chunks_cmd.add_argument("--total", type=int, required=True)
    questions_cmd = commands.add_parser("questions")
    questions_cmd.add_argument("--count", type=int, default=200)
    questions_cmd.add_argument("--out", type=Path, required=True)
    commands.add_parser("stats")
    settle_cmd = commands.add_parser("settle")
    settle_cmd.add_argument("--quiet", type=float, default=1.0)
    settle_cmd.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    if args.command == "users":
        users(
            start=args.start,
            count=args.count,
            history=args.history,
            short_history=args.short_history,
            huge_history=args.huge_history,
            out=args.out,
        )
    elif args.command == "chunks":
        chunks(total=args.total)
    elif args.command == "questions":
        questions(count=args.count, out=args.out)
    elif args.command == "settle":
        settle(quiet_s=args.quiet, timeout_s=args.timeout)
    else:
        stats()


if __name__ == "__main__":
    main()
