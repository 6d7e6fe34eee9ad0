"""FAISS indexes of a scope's vectors and their snapshots on disk.

A snapshot holds a scope's vectors up to one chunk id (its high-water mark), as FAISS built
them: an exhaustive scan (`flat`) up to `RETRIEVAL_HNSW_THRESHOLD` vectors, an HNSW graph
above. It is two files named after what they hold, `<scope>.<stamp>.<high>.<removed>.faiss`
and the chunk ids of its rows beside it (`.ids.npy`). Each is written to a temporary file and
renamed, the ids first, so a snapshot is there whole or not at all, and never changes.

A snapshot is opened memory-mapped: the workers of a machine that open the same file share one
copy of its pages in the page cache instead of holding one each.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

log = logging.getLogger(__name__)

IndexKind = Literal["flat", "hnsw"]
# Measured on WordLlama vectors of a clustered corpus (one run, 50k vectors, bench-style
# questions): efConstruction 64 found 82% of the exact top 5 at efSearch 128 and 96% at 512;
# efConstruction 200 found 90% at 128 and 96% at 256 (p99 1.5 ms), for 3x the build time.
# At efSearch 512 (issue 29's bench corpus, one run each, index alone): 97.4% at 100k vectors
# (p99 1.6 ms, as at 256) but 91.4% at 1M; doubling it at 1M found 95.3% (p99 6.0 ms). So
# graphs of `LARGE_GRAPH` vectors and more search twice as broadly (`search_breadth`).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
LARGE_GRAPH = 500_000
_SUFFIX = ".faiss"
_IDS_SUFFIX = ".ids.npy"


@dataclass(frozen=True)
class Name:
    """What a snapshot holds, as its file name says: the scope's vectors of generation
    ``stamp`` with chunk ids up to ``high``, written when ``removed`` chunks had been deleted."""

    scope: str
    stamp: str
    high: int
    removed: int

    @property
    def stem(self) -> str:
        return f"{self.scope}.{self.stamp}.{self.high}.{self.removed}"

    @classmethod
    def parse(cls, path: Path) -> Name | None:
        parts = path.name.removesuffix(_SUFFIX).split(".")
        if len(parts) != 4 or not (parts[2].isdigit() and parts[3].isdigit()):
            return None
        return cls(parts[0], parts[1], int(parts[2]), int(parts[3]))


@dataclass(frozen=True)
class Snapshot:
    """A snapshot opened for searching: FAISS's index (row ``i`` is chunk ``ids[i]``)."""

    name: Name
    index: Any  # faiss.IndexFlatIP or faiss.IndexHNSWFlat; FAISS ships no type information
    ids: np.ndarray
    path: Path | None = None

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> IndexKind:
        return "hnsw" if isinstance(self.index, faiss.IndexHNSW) else "flat"

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The best ``k`` (chunk id, score) pairs for one normalised query vector."""
        k = min(k, self.ntotal)
        if k <= 0:
            return []
        scores, rows = self.index.search(query.reshape(1, -1), k)
        return [
            (int(self.ids[row]), float(score))
            for row, score in zip(rows[0], scores[0], strict=True)
            if row >= 0
        ]


def search_breadth(ef_search: int, count: int) -> int:
    """HNSW's efSearch for a graph of ``count`` vectors: the setting, doubled for large ones."""
    return ef_search * 2 if count >= LARGE_GRAPH else ef_search


def build(vectors: np.ndarray, *, kind: IndexKind, ef_search: int) -> Any:
    """A FAISS index of ``vectors`` (normalised float32 rows) ranking by inner product."""
    dim = vectors.shape[1]
    index: Any
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = search_breadth(ef_search, len(vectors))
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Exact top ``k`` of a small in-memory matrix (a scope's newest vectors), best first."""
    k = min(k, len(ids))
    if k <= 0:
        return []
    scores = vectors @ query
    best = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
    best = best[np.lexsort((ids[best], -scores[best]))]
    return [(int(ids[row]), float(scores[row])) for row in best]


def write(folder: Path, name: Name, index: Any, ids: np.ndarray) -> Path:
    """Save a snapshot under its name; returns the path of its index file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.stem}{_SUFFIX}"
    with _replacing(folder / f"{name.stem}{_IDS_SUFFIX}") as temporary, temporary.open("wb") as f:
        np.save(f, np.asarray(ids, dtype=np.int64), allow_pickle=False)
    with _replacing(path) as temporary:
        faiss.write_index(index, str(temporary))
    return path


def newest(folder: Path, scope: str, stamp: str) -> Name | None:
    """The snapshot of the scope's generation ``stamp`` reaching the highest chunk id."""
    names = (Name.parse(path) for path in folder.glob(f"{scope}.{stamp}.*{_SUFFIX}"))
    found = [name for name in names if name is not None and name.scope == scope]
    return max(found, key=lambda name: (name.high, -name.removed), default=None)


def open_snapshot(folder: Path, name: Name, *, ef_search: int) -> Snapshot | None:
    """The snapshot, memory-mapped; None when it went meanwhile (replaced, or unreadable)."""
    path = folder / f"{name.stem}{_SUFFIX}"
    try:
        ids = np.load(folder / f"{name.stem}{_IDS_SUFFIX}", mmap_mode="r", allow_pickle=False)
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    except (OSError, RuntimeError, ValueError):
        log.warning("could not open the index snapshot %s; rebuilding", path, exc_info=True)
        return None
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = search_breadth(ef_search, index.ntotal)
    if index.ntotal != len(ids):
        log.warning("the index snapshot %s does not match its ids; rebuilding", path)
        return None
    return Snapshot(name=name, index=index, ids=ids, path=path)


def read_writable(snapshot: Snapshot) -> Any:
    """A private, in-memory copy of a snapshot's index, which can take more vectors (the
    memory-mapped one cannot: FAISS aborts the process when asked to)."""
    if snapshot.path is None:
        return faiss.clone_index(snapshot.index)
    return faiss.read_index(str(snapshot.path))


def discard(folder: Path, scope: str, *, keep: Name | None = None) -> None:
    """Delete the scope's snapshots but ``keep``. Processes that have one open keep reading
    it: the file's pages live until the last of them closes it."""
    for path in folder.glob(f"{scope}.*{_SUFFIX}"):
        name = Name.parse(path)
        if name is None or name.scope != scope or name == keep:
            continue
        for doomed in (folder / f"{name.stem}{_IDS_SUFFIX}", path):
            doomed.unlink(missing_ok=True)


def vector_bytes(vector: np.ndarray) -> bytes:
    """A vector as it is stored in `Chunk.vector`: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def stack(blobs: list[bytes], *, dim: int) -> np.ndarray:
    """Stored vectors as one (n, dim) float32 matrix."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim).astype(np.float32)


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it atomically once written."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
