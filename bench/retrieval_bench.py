"""Retrieval benchmark, in-process: ingest, search, a chat's retrieval, HNSW recall and the
memory of several workers sharing one snapshot, with the default embedder (WordLlama).

    .venv/bin/python bench/retrieval_bench.py                 # 100k chunks
    .venv/bin/python bench/retrieval_bench.py --sizes 20000 100000
    .venv/bin/python bench/retrieval_bench.py --million       # adds 1M (~25 min, ~6 GB disk)

Chunks are synthetic ~1,000-character texts (`CHUNK_SIZE`), each about one of 500 subjects:
half its words from the subject's own, half from a 30,000-word vocabulary (the evaluation's
shop passages' words first) by Zipf's law, so that, as in real documents, chunks cluster by
subject and a word's frequency spans orders of magnitude. Everything runs against a throwaway
SQLite database and `DATA_DIR`:

- **ingest**: documents of 100 chunks through `indexing.index_document` (embed, store the rows
  with their vectors, move the scope's high-water mark), then the search that catches up on
  them; chunks per second over the whole.
- **search**: embed a question (six of a chunk's less common words) and search the scope's
  index for 5 (what every chat does before the database is asked for text).
- **chat retrieval**: `selectors.passages_for`, the whole of a chat's retrieval: embed, the
  states query, the vector and full-text rankings, fusion, the relevance floor and the rows.
- **recall@5**: the index's top 5 against an exact float32 scan, on the same questions.
- **memory**: `--workers` processes open the scope's snapshot memory-mapped and search it;
  their proportional set size (PSS: shared pages divided among the processes that map them)
  is summed, next to what each holding its own copy would take.

Targets (2 cores): search p99 < 5 ms at 100k and < 10 ms at 1M; ingest >= 2,000 chunks/s;
chat retrieval p99 < 10 ms at 100k; recall@5 >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_CHUNK = 130  # about 1000 characters
VOCABULARY = 30_000
TOPICS = 500
_SYLLABLES = "ka to ri mo ne sa lu pi de fo gra zen bel tur vin os qua mi".split()
_BATCH = 10_000


@dataclass(frozen=True)
class Result:
    chunks: int
    kind: str
    embed_per_s: float
    ingest_per_s: float
    snapshot_s: float
    search_p50_ms: float
    search_p99_ms: float
    chat_p50_ms: float
    chat_p99_ms: float
    recall: float
    workers: int
    shared_mb: float
    private_mb: float


def configure(data_dir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir}/bench.sqlite3",
            "CACHE_URL": "locmemcache://retrieval-bench",
            "TASKS_BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "EMBEDDER": "wordllama",
            "LOG_LEVEL": "WARNING",
            "DEBUG": "false",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def vocabulary() -> list[str]:
    """The words of the evaluation's passages, most frequent first, then made-up words up to
    `VOCABULARY` (a real corpus of this size has tens of thousands of words)."""
    from collections import Counter

    from providers.text import words

    data = json.loads((ROOT / "bench" / "data" / "retrieval_eval.json").read_text())
    counts = Counter(w for p in data["passages"] for w in words(p["text"]))
    known = [word for word, _ in counts.most_common()]
    rng = np.random.default_rng(0)
    made_up = {
        "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5)))) for _ in range(3 * VOCABULARY)
    } - set(known)
    return known + sorted(made_up)[: VOCABULARY - len(known)]


def texts(count: int, vocab: list[str], *, seed: int, length: int = WORDS_PER_CHUNK) -> list[str]:
    """``count`` chunks of ``length`` words, each about one of `TOPICS` subjects: half its words
    from the subject's own 150, half from the whole vocabulary by Zipf's law, shuffled."""
    topics = np.random.default_rng(1).integers(len(vocab), size=(TOPICS, 150))
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for begin in range(0, count, _BATCH):
        size = min(_BATCH, count - begin)
        half = length // 2
        general = (rng.zipf(1.2, size=(size, half)) - 1) % len(vocab)
        subject = topics[
            rng.integers(TOPICS, size=size)[:, None], rng.integers(150, size=(size, length - half))
        ]
        rows = rng.permuted(np.hstack([general, subject]), axis=1)
        texts.extend(" ".join(vocab[i] for i in row) for row in rows.tolist())
    return texts


def questions(chunks: list[str], vocab: list[str], count: int, *, seed: int) -> list[str]:
    """Questions about the corpus, as people ask them: six of one chunk's less common words."""
    rng = np.random.default_rng(seed)
    common = set(vocab[:100])
    asked = []
    for pick in rng.integers(0, len(chunks), size=count):
        words = sorted(set(chunks[pick].split()) - common)
        asked.append(" ".join(rng.choice(words, size=min(6, len(words)), replace=False)))
    return asked


def embed_all(chunks: list[str]) -> tuple[np.ndarray, float]:
    from providers import semantic

    began = time.perf_counter()
    matrix = np.vstack(
        [semantic.embed(chunks[i : i + _BATCH]) for i in range(0, len(chunks), _BATCH)]
    )
    return matrix, len(chunks) / (time.perf_counter() - began)


def store(owner_id: int, chunks: list[str], matrix: np.ndarray) -> None:
    """The chunks as rows of one shared document, as ingestion writes them (in batches)."""
    from django.db import transaction

    from retrieval import indexing, vectors
    from retrieval.embedders import current
    from retrieval.models import SHARED_SCOPE, Chunk, Document

    embedder = current()
    document = Document.objects.create(
        owner_id=owner_id, title="bench", kind="txt", size=0, sha256="bench", shared=True,
        text="", status=Document.Status.READY,
    )  # fmt: skip
    for begin in range(0, len(chunks), _BATCH):
        with transaction.atomic():
            indexing.lock_scope(SHARED_SCOPE, embedder=embedder.name, dim=matrix.shape[1])
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        document=document,
                        owner_id=owner_id,
                        shared=True,
                        scope=SHARED_SCOPE,
                        ordinal=begin + n,
                        text=text,
                        vector=vectors.vector_bytes(row),
                    )  # fmt: skip
                    for n, (text, row) in enumerate(
                        zip(
                            chunks[begin : begin + _BATCH],
                            matrix[begin : begin + _BATCH],
                            strict=True,
                        )
                    )
                ],
                batch_size=2000,
            )
            indexing.advance([SHARED_SCOPE])


def ingest_rate(owner_id: int, vocab: list[str], *, documents: int, seed: int) -> float:
    """Chunks per second through the real ingestion path, the catching-up search included."""
    from django.conf import settings

    from retrieval import indexing, selectors
    from retrieval.models import Document

    bodies = [" ".join(texts(100, vocab, seed=seed + n)) for n in range(documents)]
    created = [
        Document.objects.create(
            owner_id=owner_id,
            title=f"ingest {n}",
            kind="txt",
            size=len(body),
            sha256=f"ingest{n}",
            shared=True,
            text=body,
        )  # fmt: skip
        for n, body in enumerate(bodies)
    ]
    began = time.perf_counter()
    chunks = 0
    for document in created:
        indexing.index_document(document_id=document.pk)
    user = _customer()
    selectors.search(user=user, query="catch up", k=5)
    elapsed = time.perf_counter() - began
    from retrieval.models import Chunk

    chunks = Chunk.objects.filter(document__in=created).count()
    if chunks < documents * 50 or settings.CHUNK_SIZE != 1000:
        raise SystemExit(f"ingest made {chunks} chunks of {settings.CHUNK_SIZE} characters")
    return chunks / elapsed


def _customer() -> Any:
    from accounts.models import User

    user, _ = User.objects.get_or_create(username="bench-customer")
    return user


def latencies(questions: list[str]) -> tuple[list[float], list[float]]:
    """Milliseconds per question: embed + index search; the whole of a chat's retrieval."""
    from retrieval import index, selectors
    from retrieval.embedders import current
    from retrieval.models import SHARED_SCOPE

    embedder = current()
    user = _customer()
    states = index.states([SHARED_SCOPE])
    for question in questions[:20]:  # warm up
        selectors.passages_for(user, question)
    search_ms, chat_ms = [], []
    for question in questions:
        began = time.perf_counter()
        index.search(states, embedder.embed([question])[0], k=5)
        middle = time.perf_counter()
        selectors.passages_for(user, question)
        end = time.perf_counter()
        search_ms.append((middle - began) * 1000)
        chat_ms.append((end - middle) * 1000)
    return search_ms, chat_ms


def recall(matrix: np.ndarray, ids: np.ndarray, questions: list[str]) -> float:
    """Share of the exact top 5 (float32 scan of every vector) that the index returns."""
    from retrieval import index
    from retrieval.embedders import current
    from retrieval.models import SHARED_SCOPE

    embedder = current()
    (state,) = index.states([SHARED_SCOPE])
    scope = index.loaded(state)
    found = 0
    for question in questions:
        query = embedder.embed([question])[0]
        exact = set(ids[np.argsort(-(matrix @ query))[:5]].tolist())
        found += len(exact & {chunk for chunk, _ in scope.search(query, 5)})
    return found / (5 * len(questions))


_WORKER = """
import sys, time, numpy as np, faiss
from pathlib import Path
folder, stem, mmap, dim = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
path = folder / (stem + ".faiss")
index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
if hasattr(index, "hnsw"):
    index.hnsw.efSearch = 512
ids = np.load(folder / (stem + ".ids.npy"), mmap_mode="r" if mmap else None)
rng = np.random.default_rng(int(sys.argv[5]))
for _ in range(2000):
    q = rng.standard_normal(dim).astype("float32"); q /= np.linalg.norm(q)
    index.search(q.reshape(1, -1), 5)
print("ready", flush=True)
sys.stdin.readline()
"""


def memory(workers: int, *, mmap: bool) -> float:
    """MB of PSS summed over ``workers`` processes searching the shared scope's snapshot."""
    from retrieval import index, vectors
    from retrieval.models import SHARED_SCOPE

    (state,) = index.states([SHARED_SCOPE])
    name = vectors.newest(index.index_dir(), SHARED_SCOPE, state.stamp)
    if name is None:
        raise SystemExit("the shared scope has no snapshot")
    folder = index.index_dir()
    # Read the files once so every worker finds them in the page cache.
    for path in folder.glob(f"{name.stem}*"):
        path.read_bytes()
    procs = [
        subprocess.Popen(  # noqa: S603 - this interpreter and the script above
            [
                sys.executable,
                "-c",
                _WORKER,
                str(folder),
                name.stem,
                "1" if mmap else "0",
                str(state.dim),
                str(n),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for n in range(workers)
    ]
    for proc in procs:
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to open the snapshot")
    total = 0.0
    for proc in procs:
        rollup = Path(f"/proc/{proc.pid}/smaps_rollup").read_text().splitlines()
        pss = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
        total += pss / 1024
    for proc in procs:
        proc.communicate("\n")
    return total


def run(count: int, *, queries: int, workers: int, seed: int, build_threads: int) -> Result:
    from django.core.management import call_command

    from accounts.models import User
    from retrieval import index
    from retrieval.models import SHARED_SCOPE, Chunk

    call_command("flush", interactive=False, verbosity=0)
    index.reset_cache()
    owner = User.objects.create(username=f"bench-staff-{count}", is_staff=True)
    vocab = vocabulary()
    chunks = texts(count, vocab, seed=seed)
    matrix, embed_per_s = embed_all(chunks)
    store(owner.pk, chunks, matrix)
    asked = questions(chunks, vocab, queries, seed=seed + 1)
    del chunks
    (state,) = index.states([SHARED_SCOPE])
    faiss.omp_set_num_threads(build_threads)  # this thread's build only; searches use one
    began = time.perf_counter()
    loaded = index.loaded(state)  # no snapshot yet: written now, as a first worker would
    snapshot_s = time.perf_counter() - began
    faiss.omp_set_num_threads(1)
    if loaded.snapshot is None:
        raise SystemExit(f"{count} chunks made no snapshot (FOLD_AT is {index.FOLD_AT})")
    search_ms, chat_ms = latencies(asked)
    ids = np.asarray(
        Chunk.objects.filter(scope=SHARED_SCOPE).order_by("id").values_list("id", flat=True)
    )
    found = recall(matrix, ids, asked[:200])
    del matrix
    shared = memory(workers, mmap=True)
    private = memory(workers, mmap=False)
    ingest = ingest_rate(owner.pk, vocab, documents=20, seed=seed + 2)
    return Result(
        chunks=count,
        kind=loaded.snapshot.kind,
        embed_per_s=embed_per_s,
        ingest_per_s=ingest,
        snapshot_s=snapshot_s,
        search_p50_ms=float(np.percentile(search_ms, 50)),
        search_p99_ms=float(np.percentile(search_ms, 99)),
        chat_p50_ms=float(np.percentile(chat_ms, 50)),
        chat_p99_ms=float(np.percentile(chat_ms, 99)),
        recall=found,
        workers=workers,
        shared_mb=shared,
        private_mb=private,
    )


def table(results: list[Result]) -> str:
    lines = [
        "| chunks | index | embed/s | ingest/s | snapshot | search p50 / p99 | chat retrieval "
        "p50 / p99 | recall@5 | memory, workers: shared snapshot / a copy each |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.chunks:,} | {r.kind} | {r.embed_per_s:,.0f} | {r.ingest_per_s:,.0f} | "
            f"{r.snapshot_s:.1f} s | {r.search_p50_ms:.2f} / {r.search_p99_ms:.2f} ms | "
            f"{r.chat_p50_ms:.2f} / {r.chat_p99_ms:.2f} ms | {r.recall:.3f} | "
            f"{r.workers}: {r.shared_mb:,.0f} MB / {r.private_mb:,.0f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--million", action="store_true", help="Also run 1,000,000 chunks.")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--build-threads", type=int, default=1, help="OpenMP threads for the snapshot's build."
    )
    args = parser.parse_args()
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    with tempfile.TemporaryDirectory(prefix="tally-retrieval-bench-") as folder:
        configure(Path(folder))
        results = []
        for size in sizes:
            print(f"running {size:,} chunks…", file=sys.stderr, flush=True)
            results.append(
                run(
                    size,
                    queries=args.queries,
                    workers=args.workers,
                    seed=args.seed,
                    build_threads=args.build_threads,
                )
            )
    print(table(results))


if __name__ == "__main__":
    main()
