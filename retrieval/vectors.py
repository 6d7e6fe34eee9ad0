"""FAISS indexes and their files: build (exact or HNSW), update, search, save and load.

An index maps chunk ids to L2-normalised vectors and ranks by inner product: an exhaustive
scan (`flat`) or, for very large scopes, an HNSW graph (`hnsw`). A file is one header line
(JSON: scope, version, embedder, dim, kind, and the length of what follows) followed by
FAISS's own bytes, and is replaced atomically, so a reader sees either the old index or the
new one, never half of one. A change that only adds vectors (a remembered exchange, a new
document) is appended instead, as its ids and vectors with a checksum: a user's memory index
is not written whole again after every chat. A reader takes the changes up to the first
torn or damaged one, and so sees the index at the version they bring it to.

A large exact index also answers sparse queries from a column-major copy of its vectors (see
`LoadedIndex.search`): the hashing embedder's question touches ~10 of 384 dimensions, and a
scan that reads only those columns reads ~1/35 of the memory FAISS's row-by-row scan does.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import faiss
import numpy as np

log = logging.getLogger(__name__)

_MAGIC = b"TALLY-FAISS 1\n"
_CHANGE = b"TALLY-ADDED 1\n"
# A file takes this many appended changes, or appended bytes past FAISS's own (at least
# `_MIN_APPENDED`), before the next change writes it whole again: reading stays one pass over
# at most about twice the index, and a change costs what it adds, not the whole scope.
MAX_CHANGES = 32
_MIN_APPENDED = 1 << 16
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# A flat index of at least this many vectors scores sparse queries (at most `SPARSE_SHARE` of
# the dimensions non-zero) from columns; below it FAISS's scan is already cheap.
SPARSE_MIN_VECTORS = 10_000
SPARSE_SHARE = 0.5
# Columns hold the index's fp16 components as 16-bit fixed point (|component| <= 1 in a
# normalised vector): rounding to steps of 1/32767 moves a component by at most 1.5e-5, less
# than fp16's own rounding, so a score differs from FAISS's in the fourth decimal at most.
_FIXED_ONE = 32767.0
_COLUMN_BLOCK = 8192  # rows converted at a time, in one 12 MB scratch block
# A column copy is made on a thread; one at a time per process (each needs a scratch block
# and a core), and after a failure not again for this long.
_COPYING = threading.Semaphore(1)
COLUMNS_RETRY_S = 60.0

IndexKind = Literal["flat", "hnsw"]


@dataclass(frozen=True)
class Header:
    """What a saved index is: which scope, at which version, built by which embedder."""

    scope: str
    version: int
    embedder: str
    dim: int
    kind: IndexKind
    stamp: str = ""


@dataclass
class LoadedIndex:
    """A FAISS index in memory with the header it was saved (or built) with.

    Modify the FAISS index only through `add` and `remove`: they keep the column copy in step.
    """

    header: Header
    index: Any  # faiss.IndexIDMap2; FAISS ships no type information
    # (dim, n) int16 components and the n chunk ids, for sparse queries; built on a thread.
    _columns: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)
    _building: bool = field(default=False, repr=False, compare=False)
    _generation: int = field(default=0, repr=False, compare=False)
    _failed_at: float = field(default=float("-inf"), repr=False, compare=False)
    _state: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Held while FAISS's memory is read for the copy or the index is modified.
    _faiss: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def columns_ready(self) -> bool:
        """Whether sparse queries are scored from the column copy (made, not dropped since)."""
        return self._columns is not None

    def search(self, query: np.ndarray, k: int, *, sparse: bool = True) -> list[tuple[int, float]]:
        """The best ``k`` (chunk id, score) pairs for one normalised query vector.

        With ``sparse``, a query with few non-zero dimensions against a large exact index is
        scored from the index's columns (`column_search`) once they are ready: the first such
        query starts copying them on a thread, and FAISS answers until the copy is done.
        Otherwise, and for HNSW graphs, FAISS searches.
        """
        k = min(k, self.ntotal)
        if k <= 0:
            return []
        if sparse and self.sparse_for(query) and (columns := self._ready_columns()) is not None:
            return _column_top(columns, query, k)
        scores, ids = self.index.search(query.reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def sparse_for(self, query: np.ndarray) -> bool:
        """Whether scoring from columns is the cheaper exact search for ``query``."""
        return (
            self.header.kind == "flat"
            and self.ntotal >= SPARSE_MIN_VECTORS
            and int(np.count_nonzero(query)) <= SPARSE_SHARE * self.header.dim
        )

    def column_search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Exact top ``k`` by inner product over the query's non-zero columns only (a flat
        index; the copy is made now when it is not there yet)."""
        with self._faiss:
            generation = self._generation
            columns = self._columns or _columns_of(self.index, self.header.dim)
        self._keep(columns, generation)
        return _column_top(columns, query, k)

    @contextmanager
    def modified(self) -> Iterator[None]:
        """A context for changing the FAISS index; the column copy is dropped after it."""
        with self._faiss:
            try:
                yield
            finally:
                with self._state:
                    self._generation += 1
                    self._columns = None

    def _ready_columns(self) -> tuple[np.ndarray, np.ndarray] | None:
        with self._state:
            if self._columns is not None or self._building:
                return self._columns
            if time.monotonic() - self._failed_at < COLUMNS_RETRY_S:
                return None
            self._building = True
        try:
            threading.Thread(
                target=self._copy_columns, name="tally-index-columns", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had (a limit; shutting down): FAISS answers
            log.warning("could not start copying the %s index's columns", self.header.scope)
            self._copy_failed()
        return None

    def _copy_columns(self) -> None:
        try:
            with _COPYING, self._faiss:
                generation = self._generation
                columns = _columns_of(self.index, self.header.dim)
            self._keep(columns, generation)
        except Exception:  # MemoryError included: FAISS keeps answering, a retry comes later
            log.exception("could not copy the %s index's columns", self.header.scope)
            self._copy_failed()
        finally:
            with self._state:
                self._building = False

    def _copy_failed(self) -> None:
        with self._state:
            self._building, self._failed_at = False, time.monotonic()

    def _keep(self, columns: tuple[np.ndarray, np.ndarray], generation: int) -> None:
        with self._state:
            if self._generation == generation:
                self._columns = columns


def _column_top(
    columns: tuple[np.ndarray, np.ndarray], query: np.ndarray, k: int
) -> list[tuple[int, float]]:
    matrix, ids = columns
    n = len(ids)
    k = min(k, n)
    if k <= 0:
        return []
    # Column by column with numpy's own loops: a matrix product would go to BLAS, whose
    # threads spin on the cores the server's workers need.
    scores = np.zeros(n, dtype=np.float32)
    term = np.empty(n, dtype=np.float32)
    for dimension in np.flatnonzero(query):
        np.multiply(matrix[dimension], query[dimension], out=term)
        scores += term
    if k < n:  # every position scoring at least the k-th best, ties at the k-th included
        top = np.flatnonzero(scores >= np.partition(scores, n - k)[n - k])
    else:
        top = np.arange(n)
    top = top[np.lexsort((top, -scores[top]))][:k]  # best first; ties in insertion order
    return [(int(ids[i]), float(scores[i]) / _FIXED_ONE) for i in top]


def build(*, header: Header, ids: np.ndarray, vectors: np.ndarray, ef_search: int) -> LoadedIndex:
    """A new index over ``vectors`` (rows) labelled with ``ids`` (chunk ids)."""
    inner: Any
    if header.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(header.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = ef_search
    else:
        # An exhaustive scan over half-precision vectors: the same ranking as float32 (fp16
        # keeps ~3 significant digits of a cosine), half the memory, and a faster scan,
        # because the scan is bound by memory bandwidth.
        inner = faiss.IndexScalarQuantizer(
            header.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(_rows(vectors, header.dim), _ids(ids))
    return LoadedIndex(header=header, index=index)


def add(loaded: LoadedIndex, *, ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(ids):
        with loaded.modified():
            loaded.index.add_with_ids(_rows(vectors, loaded.header.dim), _ids(ids))


def remove(loaded: LoadedIndex, *, ids: np.ndarray) -> None:
    """Remove ids from an exact index (HNSW graphs cannot remove: rebuild those instead)."""
    if loaded.header.kind != "flat":
        raise ValueError("An HNSW index cannot remove vectors; rebuild it.")
    if len(ids):
        with loaded.modified():
            loaded.index.remove_ids(_ids(ids))


def save(loaded: LoadedIndex, path: Path) -> None:
    """Write the whole index atomically: a temporary file in the same folder, fsync, then
    `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = faiss.serialize_index(loaded.index)
    fields = {**loaded.header.__dict__, "payload": int(payload.nbytes)}
    header = json.dumps(fields, sort_keys=True).encode() + b"\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_MAGIC + header)
            out.write(payload.data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append(
    path: Path, *, before: Header, after: Header, ids: np.ndarray, vectors: np.ndarray
) -> bool:
    """Record vectors added by the change from ``before`` to ``after`` at the end of the file;
    False, with the file untouched, when it is not at ``before`` or has taken enough changes
    (then `save` the whole index). The caller holds the scope's writers' lock.

    No fsync: a change lost or torn by a crash reads as the version before it, which the
    database's version then sends to a rebuild.
    """
    if after != replace(before, version=before.version + 1, stamp=after.stamp):
        return False  # a change of anything but the version is the whole index's
    rows, labels = _rows(vectors, before.dim), _ids(ids)
    body = labels.astype("<i8").tobytes() + rows.astype("<f4").tobytes()
    try:
        with path.open("r+b") as file:
            layout = _layout(file, path)
            if (
                layout.header != before
                or layout.payload is None
                or layout.changes >= MAX_CHANGES
                or layout.appended + len(body) > max(layout.payload, _MIN_APPENDED)
            ):
                return False
            crc = _checksum(after.version, after.stamp, len(labels), body)
            record = {"version": after.version, "stamp": after.stamp, "count": len(labels)}
            line = json.dumps({**record, "crc": crc}, sort_keys=True).encode()
            file.truncate(layout.end)  # a torn change of a crashed writer goes
            file.seek(layout.end)
            file.write(_CHANGE + line + b"\n" + body)
    except (FileNotFoundError, ValueError):
        return False
    return True


def read_header(path: Path) -> Header | None:
    """The header of a saved index as of its last complete change, or None when there is no
    (valid) file."""
    try:
        with path.open("rb") as file:
            return _scan(file, path).last
    except (FileNotFoundError, ValueError):
        return None


def load(path: Path, *, ef_search: int) -> LoadedIndex | None:
    """A saved index, or None when there is no (valid) file: it is then rebuilt from the DB."""
    try:
        with path.open("rb") as file:
            header, payload = _header(file)
            start = file.tell()
            # FAISS reads the index straight into its own arrays: no copy of the file in
            # memory first (half the time of a memory scope's reload).
            reader = faiss.PyCallbackIOReader(file.read)  # type: ignore[attr-defined]
            index: Any = faiss.read_index(reader)
            if payload is not None:
                file.seek(start + payload)
                for current, ids, rows in _changes(file, header):
                    index.add_with_ids(rows, ids)
                    header = current
    except (FileNotFoundError, ValueError, RuntimeError):
        return None
    if header.kind == "hnsw":
        graph: Any = faiss.downcast_index(index.index)
        graph.hnsw.efSearch = ef_search
    return LoadedIndex(header=header, index=index)


def catch_up(path: Path, base: LoadedIndex) -> LoadedIndex | None:
    """``base`` brought to the saved index's last complete change by the changes appended
    after ``base``'s version (a copy; ``base`` itself when there are none), or None when the
    file does not continue it (written whole since, or missing). FAISS's bytes are skipped,
    and so are the changes ``base`` already holds.
    """
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    try:
        with path.open("rb") as file:
            scan = _scan(file, path)
            # Versions rise by one a change, so base's state can only be one of the file's
            # own: written whole since (a newer first version), or on another line of
            # changes, it is none of them.
            states = [scan.header, *(record.header for record in scan.records)]
            if scan.payload is None or base.header not in states:
                return None
            for record in scan.records[states.index(base.header) :]:
                file.seek(record.body)
                body = file.read(_body_size(record.count, base.header))
                if not record.holds(body):
                    return None  # changed under us: whoever reads it next rescans it
                pending.append(_arrays(body, record.count, base.header.dim))
    except (FileNotFoundError, ValueError):
        return None
    if not pending:
        return base
    fresh = copy(base)
    for ids, rows in pending:
        add(fresh, ids=ids, vectors=rows)
    fresh.header = scan.last
    return fresh


@dataclass(frozen=True)
class _Layout:
    header: Header  # as of the last complete change
    payload: int | None  # FAISS's bytes; None in a file of an earlier format (no changes)
    changes: int
    appended: int  # bytes of the changes' ids and vectors
    end: int  # where the last complete change ends


def _layout(file: BinaryIO, path: Path) -> _Layout:
    scan = _scan(file, path)
    appended = sum(_body_size(record.count, scan.header) for record in scan.records)
    return _Layout(scan.last, scan.payload, len(scan.records), appended, scan.end)


@dataclass(frozen=True)
class _Record:
    """One complete change in a file: the header it brings the index to, and where its ids
    and vectors lie."""

    header: Header
    count: int
    crc: int
    body: int  # offset of its ids and vectors
    end: int  # offset just past them

    def holds(self, body: bytes) -> bool:
        return _checksum(self.header.version, self.header.stamp, self.count, body) == self.crc


@dataclass(frozen=True)
class _Scan:
    """What reading a file found: its first header, where FAISS's bytes end, its complete
    changes. Kept per file, so the next reader of the same file reads only what was appended
    since."""

    identity: tuple[int, int, bytes]  # device, inode, the header line
    header: Header
    payload: int | None
    start: int  # where FAISS's bytes end and the first change begins
    records: tuple[_Record, ...]

    @property
    def last(self) -> Header:
        return self.records[-1].header if self.records else self.header

    @property
    def end(self) -> int:
        return self.records[-1].end if self.records else self.start


# path -> its last scan. A complete change is never written over in place (a writer cuts a
# torn one off and appends after the last complete one; anything else replaces the file, a
# new inode with its own header line), so a scan of the same inode and header line is still
# true of the file's start, and reading goes on from its end.
_scans: dict[str, _Scan] = {}
_SCANS_KEPT = 4096


def _scan(file: BinaryIO, path: Path) -> _Scan:
    stat = os.fstat(file.fileno())
    identity = (stat.st_dev, stat.st_ino, _first_line(file))
    key = str(path)
    known = _scans.get(key)
    if (
        known is not None
        and known.payload is not None
        and known.identity == identity
        and stat.st_size >= known.end
    ):
        file.seek(known.end)
        scan = replace(known, records=known.records + tuple(_records(file, known.last)))
    else:
        header, payload = _parse_header(identity[2])
        start = file.tell() + (payload or 0)
        file.seek(start)
        records = tuple(_records(file, header)) if payload is not None else ()
        scan = _Scan(identity, header, payload, start, records)
    if scan is not known:
        if len(_scans) >= _SCANS_KEPT:
            _scans.clear()
        _scans[key] = scan
    return scan


def _records(file: BinaryIO, header: Header) -> Iterator[_Record]:
    """The complete changes from the file's position on; stops at the first that is torn,
    damaged or not the next version."""
    for record, _ in _read_changes(file, header):
        yield record


def _changes(file: BinaryIO, header: Header) -> Iterator[tuple[Header, np.ndarray, np.ndarray]]:
    """The complete changes after FAISS's bytes, each with the header it brings the index to;
    stops at the first that is torn, damaged or not the next version."""
    for record, body in _read_changes(file, header):
        yield (record.header, *_arrays(body, record.count, header.dim))


def _read_changes(file: BinaryIO, header: Header) -> Iterator[tuple[_Record, bytes]]:
    while file.read(len(_CHANGE)) == _CHANGE:
        try:
            fields = json.loads(file.readline())
            count, crc = int(fields["count"]), int(fields["crc"])
            version, stamp = int(fields["version"]), str(fields["stamp"])
        except (KeyError, TypeError, ValueError):
            return
        at = file.tell()
        body = file.read(_body_size(count, header))
        if version != header.version + 1 or len(body) != _body_size(count, header):
            return
        header = replace(header, version=version, stamp=stamp)
        record = _Record(header=header, count=count, crc=crc, body=at, end=file.tell())
        if not record.holds(body):
            return
        yield record, body


def _arrays(body: bytes, count: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A change's ids and vectors (int64, and float32 rows)."""
    ids = np.frombuffer(body, dtype="<i8", count=count).astype(np.int64)
    rows = np.frombuffer(body, dtype="<f4", offset=8 * count).reshape(count, dim)
    return ids, np.ascontiguousarray(rows, dtype=np.float32)


def copy(loaded: LoadedIndex) -> LoadedIndex:
    """An independent copy, to modify while searches go on in the original."""
    index: Any = faiss.clone_index(loaded.index)
    if loaded.header.kind == "hnsw":
        graph: Any = faiss.downcast_index(index.index)
        source: Any = faiss.downcast_index(loaded.index.index)
        graph.hnsw.efSearch = source.hnsw.efSearch
    return LoadedIndex(header=loaded.header, index=index)


def ids_of(loaded: LoadedIndex) -> np.ndarray:
    """The chunk ids an index holds."""
    return faiss.vector_to_array(loaded.index.id_map)


def vector_bytes(vector: np.ndarray) -> bytes:
    """How one embedding is stored in `Chunk.vector`: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def stack(blobs: list[bytes], *, dim: int) -> np.ndarray:
    """Stored embeddings back to a (n, dim) float32 matrix; refuses rows of another width."""
    if any(len(blob) != dim * 4 for blob in blobs):
        raise ValueError(f"Stored vectors do not all have {dim} dimensions.")
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim)


def memory_bytes(loaded: LoadedIndex) -> int:
    """Roughly what the index occupies in memory (its serialised size)."""
    return int(faiss.serialize_index(loaded.index).nbytes)


def _columns_of(index: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat index's vectors as (dim, n) 16-bit fixed point, and its ids (both copies)."""
    n = int(index.ntotal)
    columns = np.empty((dim, n), dtype=np.int16)
    if n == 0:
        return columns, np.empty(0, dtype=np.int64)
    inner: Any = faiss.downcast_index(index.index)
    codes = faiss.rev_swig_ptr(inner.codes.data(), inner.codes.size())
    rows = codes.view(np.float16)[: n * dim].reshape(n, dim)
    scratch = np.empty((min(n, _COLUMN_BLOCK), dim), dtype=np.float32)
    for begin in range(0, n, _COLUMN_BLOCK):
        block = scratch[: len(rows[begin : begin + _COLUMN_BLOCK])]
        block[...] = rows[begin : begin + len(block)]
        np.multiply(block, _FIXED_ONE, out=block)
        np.rint(block, out=block)
        columns[:, begin : begin + len(block)] = block.T
    ids = faiss.rev_swig_ptr(index.id_map.data(), index.id_map.size()).copy()
    return columns, ids


def _header(file: BinaryIO) -> tuple[Header, int | None]:
    """The header line, and the length of FAISS's bytes after it (None in a file of the format
    before changes were appended: FAISS's bytes then end the file)."""
    return _parse_header(_first_line(file))


def _first_line(file: BinaryIO) -> bytes:
    if file.read(len(_MAGIC)) != _MAGIC:
        raise ValueError("not a Tally index file")
    return file.readline()


def _parse_header(line: bytes) -> tuple[Header, int | None]:
    try:
        fields = json.loads(line)
        payload = fields.pop("payload", None)
        return Header(**fields), None if payload is None else int(payload)
    except (TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError("damaged index header") from exc


def _checksum(version: int, stamp: str, count: int, body: bytes) -> int:
    """CRC-32 of a change: what it says it is, and its ids and vectors."""
    return zlib.crc32(body, zlib.crc32(f"{version} {stamp} {count}".encode()))


def _body_size(count: int, header: Header) -> int:
    return count * (8 + 4 * header.dim)  # int64 ids, then float32 rows


def _rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != dim:
        raise ValueError(f"Expected vectors of {dim} dimensions, got shape {rows.shape}.")
    return rows


def _ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)
