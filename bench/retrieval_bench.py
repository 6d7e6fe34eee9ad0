"""Retrieval benchmark: ingest and search N chunks with the hashing embedder, straight against
the index layer (no HTTP, no database), and print a Markdown table.

    .venv/bin/python bench/retrieval_bench.py               # 10k and 100k chunks
    .venv/bin/python bench/retrieval_bench.py --sizes 10000 --queries 500
    .venv/bin/python bench/retrieval_bench.py --million     # adds 1M (~20 min, ~4 GB RAM)

Chunks are synthetic ~1000-character texts (a Zipf-distributed vocabulary, like prose), the
size `CHUNK_SIZE` produces. "Ingest" is embedding plus adding to the index, built as in
production: an exhaustive fp16 scan up to `--hnsw-threshold` vectors, an HNSW graph above.
"Search" is one query as a request makes it (embed a six-word question, search for 5);
recall compares the top 5 with a float32 brute-force scan. An exact index is measured twice:
FAISS's fp16 scan, then scoring from the index's columns (`RETRIEVAL_SPARSE_SCAN`, the
server's default for scopes of 10k+ vectors), whose copy adds its build time and memory.
Targets (2 cores): p99 under 10 ms at 100k chunks, under 50 ms at 1M.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from providers.text import hashing_embed  # noqa: E402
from retrieval import vectors  # noqa: E402
from retrieval.vectors import Header  # noqa: E402

WORDS_PER_CHUNK = 140  # about 1000 characters
_SYLLABLES = "ka to ri mo ne sa lu pi de fo gra zen bel tur vin os qua mi".split()
_EMBED_BATCH = 10_000


@dataclass(frozen=True)
class Result:
    chunks: int
    kind: str
    search: str
    embed_per_s: float
    index_per_s: float
    ingest_per_s: float
    p50_ms: float
    p99_ms: float
    p99_index_ms: float
    memory_mb: float
    recall: float


def corpus(count: int, *, seed: int) -> list[str]:
    """``count`` synthetic chunks of ~1000 characters drawn from a 30k-word Zipf vocabulary."""
    rng = np.random.default_rng(seed)
    vocab = ["".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5)))) for _ in range(30_000)]
    texts: list[str] = []
    for begin in range(0, count, _EMBED_BATCH):  # in batches: 1M chunks are 140M words
        size = min(_EMBED_BATCH, count - begin)
        ranks = (rng.zipf(1.3, size=size * WORDS_PER_CHUNK) - 1) % len(vocab)
        words = [vocab[rank] for rank in ranks.tolist()]
        texts.extend(
            " ".join(words[start : start + WORDS_PER_CHUNK])
            for start in range(0, len(words), WORDS_PER_CHUNK)
        )
    return texts


def run(count: int, *, queries: int, threshold: int, ef_search: int, seed: int) -> list[Result]:
    texts = corpus(count, seed=seed)
    started = time.perf_counter()
    matrix = np.vstack(
        [
            hashing_embed(texts[begin : begin + _EMBED_BATCH])
            for begin in range(0, count, _EMBED_BATCH)
        ]
    )
    embedded = time.perf_counter()
    kind: vectors.IndexKind = "hnsw" if count > threshold else "flat"
    header = Header(scope="bench", version=1, embedder="hashing", dim=matrix.shape[1], kind=kind)
    ids = np.arange(1, count + 1, dtype=np.int64)
    index = vectors.build(header=header, ids=ids, vectors=matrix, ef_search=ef_search)
    indexed = time.perf_counter()
    questions = _questions(texts, count=queries, seed=seed + 1)
    memory = vectors.memory_bytes(index)

    def measured(search: str, sparse: bool, extra_bytes: int = 0) -> Result:
        return Result(
            chunks=count,
            kind=kind,
            search=search,
            embed_per_s=count / (embedded - started),
            index_per_s=count / (indexed - embedded),
            ingest_per_s=count / (indexed - started),
            **_latencies(index, questions, sparse=sparse),
            memory_mb=(memory + extra_bytes) / 2**20,
            recall=_recall(index, matrix, questions[:200], sparse=sparse),
        )

    if kind == "hnsw":
        return [measured("HNSW graph", sparse=False)]
    scan = measured("FAISS fp16 scan", sparse=False)
    began = time.perf_counter()
    index.column_search(hashing_embed([questions[0]])[0], 5)  # makes the column copy now
    copy_s = time.perf_counter() - began
    columns = measured(f"columns (copy made in {copy_s:.1f} s)", True, count * header.dim * 2)
    return [scan, columns]


def _latencies(
    index: vectors.LoadedIndex, questions: list[str], *, sparse: bool
) -> dict[str, float]:
    for question in questions[:20]:  # warm up caches and OpenMP threads
        index.search(hashing_embed([question])[0], 5, sparse=sparse)
    total_ms, index_ms = [], []
    for question in questions:
        begin = time.perf_counter()
        vector = hashing_embed([question])[0]
        middle = time.perf_counter()
        index.search(vector, 5, sparse=sparse)
        end = time.perf_counter()
        total_ms.append((end - begin) * 1000)
        index_ms.append((end - middle) * 1000)
    return {
        "p50_ms": float(np.percentile(total_ms, 50)),
        "p99_ms": float(np.percentile(total_ms, 99)),
        "p99_index_ms": float(np.percentile(index_ms, 99)),
    }


def _questions(texts: list[str], *, count: int, seed: int) -> list[str]:
    """Questions sharing six less common words with one chunk, as a paraphrase would."""
    rng = np.random.default_rng(seed)
    frequent = {word for word, _ in Counter(" ".join(texts[:2000]).split()).most_common(200)}
    questions = []
    for pick in rng.integers(0, len(texts), size=count):
        words = sorted(set(texts[pick].split()) - frequent)
        questions.append(" ".join(rng.choice(words, size=min(6, len(words)), replace=False)))
    return questions


def _recall(
    index: vectors.LoadedIndex, matrix: np.ndarray, questions: list[str], *, sparse: bool
) -> float:
    """Share of a float32 brute-force top 5 that ``index`` also returns."""
    exact = faiss.IndexFlatIP(matrix.shape[1])
    exact.add(matrix)
    found = 0
    for question in questions:
        vector = hashing_embed([question])[0]
        _, truth = exact.search(vector.reshape(1, -1), 5)
        expected = {int(position) + 1 for position in truth[0]}  # ids are positions + 1
        found += len(expected & {chunk for chunk, _ in index.search(vector, 5, sparse=sparse)})
    return found / (5 * len(questions))


def table(results: list[Result]) -> str:
    lines = [
        "| chunks | index | search | embed chunks/s | index chunks/s | ingest chunks/s | "
        "search p50 | search p99 | index-only p99 | index memory | recall@5 vs float32 |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.chunks:,} | {r.kind} | {r.search} | {r.embed_per_s:,.0f} | "
            f"{r.index_per_s:,.0f} | {r.ingest_per_s:,.0f} | {r.p50_ms:.2f} ms | "
            f"{r.p99_ms:.2f} ms | {r.p99_index_ms:.2f} ms | {r.memory_mb:,.0f} MB | "
            f"{r.recall:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="Also run 1,000,000 chunks.")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--hnsw-threshold", type=int, default=1_000_000)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    results = []
    for size in sizes:
        print(f"running {size:,} chunks…", file=sys.stderr, flush=True)
        results.extend(
            run(
                size,
                queries=args.queries,
                threshold=args.hnsw_threshold,
                ef_search=args.ef_search,
                seed=args.seed,
            )
        )
    print(table(results))


if __name__ == "__main__":
    main()
