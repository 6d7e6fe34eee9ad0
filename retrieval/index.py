"""Each process's FAISS indexes: caches of the database, caught up by chunk id.

The database is the only store. Chunks, with their vectors, are only ever inserted (removals
delete rows; a re-embedding starts a new generation), and each scope's `IndexState` row says
what the scope holds: its generation (`stamp`), the highest chunk id in it (`high`) and how many
chunks were ever removed from it (`removed`). Writers lock that row before inserting, so within
a scope chunk ids commit in order, and every chunk up to `high` is visible to whoever reads it.

A scope in memory is a `Loaded`: an optional snapshot (the vectors up to some id, memory-mapped
from `DATA_DIR/index/`, shared by the machine's workers) and a tail (the newer vectors, in this
process's memory). A search reads the scopes' states in one query; a scope whose `high` moved
fetches the rows above its own and adds them to the tail. When the tail reaches
`FOLD_AT` vectors, a background thread writes a new snapshot (one process of the machine does;
the others find it) and the scope reopens on it. A removal does not touch the indexes: search
drops ids whose rows are gone, and a scope with many of them is rebuilt by its next fold.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.db.transaction import TransactionManagementError
from django.dispatch import receiver

from core import statements
from core.db import release_connections
from retrieval import vectors
from retrieval.exceptions import EmbedderMismatch
from retrieval.models import Chunk, IndexState
from retrieval.vectors import Name, Snapshot

log = logging.getLogger(__name__)

# Scopes kept in memory per process; the least recently searched are dropped first.
CACHE_SCOPES = 512
# A scope's newest vectors are searched exactly from memory up to this many (~1.3 MB at 256
# dimensions, a 0.2 ms scan); then they are folded into a snapshot. Smaller scopes (most users'
# own) never have a snapshot: reading them from the database is as quick as from a file.
FOLD_AT = 5000
# A snapshot whose scope lost this share of its vectors since is rebuilt by the next fold.
REMOVED_SHARE = 0.1
# Rows read per query when a scope is loaded from the database.
_READ_BATCH = 5000

_cache: OrderedDict[str, Loaded] = OrderedDict()
_cache_lock = threading.Lock()
# Held while a scope is loaded or caught up; scopes share 64 locks by hash.
_LOADING = [threading.Lock() for _ in range(64)]
# Folds run here, one at a time per process, never on a request's thread (tests that need
# them in step with their own transaction turn `FOLD_IN_BACKGROUND` off).
FOLD_IN_BACKGROUND = True
_folds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-fold")
_folding: set[str] = set()
_fold_failed: dict[str, float] = {}  # scope -> when its last fold failed (monotonic)
FOLD_RETRY_S = 60.0


@dataclass(frozen=True)
class Loaded:
    """A scope as of one state: a snapshot (or none) and the newer vectors. Never modified:
    catching up makes a new one, so searches need no lock."""

    scope: str
    stamp: str
    high: int
    removed: int
    snapshot: Snapshot | None
    tail_ids: np.ndarray
    tail: np.ndarray

    @property
    def ntotal(self) -> int:
        return len(self.tail_ids) + (self.snapshot.ntotal if self.snapshot else 0)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The best ``k`` (chunk id, score) pairs of the snapshot and the tail, best first."""
        hits = vectors.top(self.tail, self.tail_ids, query, k)
        if self.snapshot is not None:
            hits += self.snapshot.search(query, k)
            hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits[:k]


def index_dir() -> Path:
    return _index_dir(str(settings.DATA_DIR))


@functools.cache
def _index_dir(data_dir: str) -> Path:
    return Path(data_dir) / "index"


def reset_cache() -> None:
    """Forget every loaded index, and past fold failures (tests; settings changes)."""
    with _cache_lock:
        _cache.clear()
        _fold_failed.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"DATA_DIR", "EMBEDDER", "EMBEDDING_DIM", "RETRIEVAL_HNSW_THRESHOLD"}:
        reset_cache()


def check_embedder(state: IndexState, *, embedder: str, dim: int | None) -> None:
    """Refuse to mix vectors of two embedders (or dimensions) in one scope."""
    if state.embedder == embedder and (dim is None or state.dim == dim):
        return
    raise EmbedderMismatch(
        f"The {state.scope!r} index was built with the {state.embedder!r} embedder "
        f"({state.dim} dimensions) but EMBEDDER is now {embedder!r}"
        + (f" ({dim} dimensions)" if dim is not None else "")
        + ". Run `python manage.py rebuild_index` to re-embed the stored chunks."
    )


def search(
    states: Iterable[IndexState], query: np.ndarray, *, k: int
) -> tuple[list[tuple[int, float]], bool]:
    """The best ``k`` (chunk id, score) pairs of each scope, merged best first, and whether
    that was everything the scopes hold (so asking for more would find nothing new).

    ``states`` are the scopes' current `IndexState` rows (the caller reads them all in one
    query); a scope behind them catches up first.
    """
    best: dict[int, float] = {}
    exhausted = True
    for state in states:
        scope_index = loaded(state)
        exhausted = exhausted and scope_index.ntotal <= k
        for chunk_id, score in scope_index.search(query, k):
            best[chunk_id] = max(score, best.get(chunk_id, score))
    hits = sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))
    return hits, exhausted


def loaded(state: IndexState) -> Loaded:
    """The scope as of ``state``: from the cache, caught up from the database, or opened.

    Threads of this process that need the same scope at once load it once: the first loads,
    the others wait for it and find it cached.
    """
    cached = _current(state)
    if cached is None:
        with _LOADING[zlib.crc32(state.scope.encode()) % len(_LOADING)]:
            cached = _current(state)
            if cached is None:
                cached = _caught_up(state) or _open(state)
                _remember(cached)
    if _needs_fold(cached, state):
        return _fold_later(state.scope) or cached
    return cached


def _current(state: IndexState) -> Loaded | None:
    with _cache_lock:
        cached = _cache.get(state.scope)
        if cached is None or (cached.stamp, cached.high) != (state.stamp, state.high):
            return None
        if cached.snapshot is None and cached.removed != state.removed:
            return None  # a scope without a snapshot is reread: cheap, and nothing stale stays
        _cache.move_to_end(state.scope)
        return cached


def _caught_up(state: IndexState) -> Loaded | None:
    """The cached scope with the chunks added since; None when it cannot be continued (another
    generation, a removal from a scope with no snapshot, or no cached scope at all)."""
    with _cache_lock:
        cached = _cache.get(state.scope)
    if cached is None or cached.stamp != state.stamp or cached.high > state.high:
        return None
    if cached.snapshot is None and cached.removed != state.removed:
        return None
    ids, matrix = _rows(state.scope, above=cached.high, upto=state.high, dim=state.dim)
    return Loaded(
        scope=state.scope,
        stamp=state.stamp,
        high=state.high,
        removed=state.removed,
        snapshot=cached.snapshot,
        tail_ids=np.concatenate([cached.tail_ids, ids]),
        tail=np.vstack([cached.tail, matrix]) if len(ids) else cached.tail,
    )


def _open(state: IndexState) -> Loaded:
    """The scope read afresh: its newest snapshot of this generation and the rows above it; a
    scope with `FOLD_AT` rows or more and no snapshot gets one first."""
    snapshot = _newest_snapshot(state)
    above = snapshot.name.high if snapshot is not None else 0
    ids, matrix = _rows(state.scope, above=above, upto=state.high, dim=state.dim)
    if snapshot is None and len(ids) >= FOLD_AT:
        try:
            with _scope_lock(state.scope):  # another worker may have written it meanwhile
                snapshot = _newest_snapshot(state) or _write_snapshot(
                    state, index_dir(), rows=(ids, matrix)
                )
        except OSError:  # the folder cannot take it: search every vector from memory
            log.warning("could not write the %s index snapshot", state.scope, exc_info=True)
        if snapshot is not None:
            above = snapshot.name.high
            ids, matrix = _rows(state.scope, above=above, upto=state.high, dim=state.dim)
    return Loaded(
        scope=state.scope,
        stamp=state.stamp,
        high=state.high,
        removed=state.removed,
        snapshot=snapshot,
        tail_ids=ids,
        tail=matrix,
    )


def _newest_snapshot(state: IndexState) -> Snapshot | None:
    """The newest snapshot of the scope's generation that is not ahead of ``state`` (a
    recreated database can start the ids again), open; reuses the cached one when it is it."""
    folder = index_dir()
    name = vectors.newest(folder, state.scope, state.stamp)
    if name is None or name.high > state.high:
        return None
    with _cache_lock:
        cached = _cache.get(state.scope)
    if cached is not None and cached.snapshot is not None and cached.snapshot.name == name:
        return cached.snapshot
    return vectors.open_snapshot(folder, name, ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH)


def _needs_fold(scope_index: Loaded, state: IndexState) -> bool:
    if len(scope_index.tail_ids) >= FOLD_AT:
        return True
    snapshot = scope_index.snapshot
    return snapshot is not None and (
        state.removed - snapshot.name.removed > REMOVED_SHARE * snapshot.ntotal
    )


def _fold_later(scope: str) -> Loaded | None:
    """Fold the scope on the fold thread; with `FOLD_IN_BACKGROUND` off, now (and return it).
    After a failed fold, the scope is not tried again for `FOLD_RETRY_S`."""
    with _cache_lock:
        failed = _fold_failed.get(scope)
        if scope in _folding or (failed and time.monotonic() - failed < FOLD_RETRY_S):
            return None
        if FOLD_IN_BACKGROUND:
            _folding.add(scope)
    if not FOLD_IN_BACKGROUND:
        return _fold_or_log(scope)
    _folds.submit(_fold_in_background, scope)
    return None


def _fold_in_background(scope: str) -> None:
    try:
        _fold_or_log(scope)
    finally:
        with _cache_lock:
            _folding.discard(scope)
        release_connections()


def _fold_or_log(scope: str) -> Loaded | None:
    """`fold`, never raising: a failure leaves the newest vectors in memory, and is logged."""
    try:
        folded = fold(scope)
    except Exception:
        with _cache_lock:
            _fold_failed[scope] = time.monotonic()
        log.exception("could not fold the %s index; its newest vectors stay in memory", scope)
        return None
    with _cache_lock:
        _fold_failed.pop(scope, None)
    return folded


def fold(scope: str) -> Loaded | None:
    """Bring the scope's snapshot up to the database and reopen the scope on it.

    Under the machine's lock for the scope: a snapshot another worker wrote meanwhile that
    leaves fewer than `FOLD_AT` vectors out is taken as it is; otherwise one is written, with
    the newer vectors added to the old graph, or rebuilt whole when the old one is flat, lost
    too many vectors, or outgrew exact search.
    """
    state = _state(scope)
    if state is None:
        return None
    with _scope_lock(scope):
        state = _state(scope) or state
        snapshot = _newest_snapshot(state)
        fresh = snapshot is not None and (
            state.high - snapshot.name.high < FOLD_AT
            and state.removed - snapshot.name.removed <= REMOVED_SHARE * snapshot.ntotal
        )
        if not fresh:
            _write_snapshot(state, index_dir(), base=snapshot)
    scope_index = _open(state)
    _remember(scope_index)
    return scope_index


def rebuild(scope: str) -> Loaded | None:
    """Rebuild the scope's snapshot from the database (``manage.py rebuild_index``) and open
    it; None when the scope has no state (no chunk was ever stored in it)."""
    state = _state(scope)
    if state is None:
        return None
    with _scope_lock(scope):
        if _count(state) >= FOLD_AT:
            _write_snapshot(state, index_dir())
        else:
            vectors.discard(index_dir(), scope)
    scope_index = _open(state)
    _remember(scope_index)
    return scope_index


def discard(scope: str) -> None:
    """Forget the scope here: its snapshots on this machine and its cached index (an erased
    user's vectors)."""
    with _scope_lock(scope):
        vectors.discard(index_dir(), scope)
    with _cache_lock:
        _cache.pop(scope, None)


def kind_for(count: int) -> vectors.IndexKind:
    """Exact search while it is fast enough; an HNSW graph above the threshold."""
    return "hnsw" if count > settings.RETRIEVAL_HNSW_THRESHOLD else "flat"


def _write_snapshot(
    state: IndexState,
    folder: Path,
    *,
    base: Snapshot | None = None,
    rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> Snapshot:
    """Write a snapshot of the scope up to ``state.high``, under the scope's lock, and return
    it opened. With ``base`` (an HNSW graph still good to extend) only the vectors above it are
    read and added; otherwise every row is (or ``rows``, when the caller has just read them)."""
    count = len(rows[0]) if rows is not None else _count(state)
    kind = kind_for(count)
    extend = (
        base is not None
        and base.kind == "hnsw"
        and kind == "hnsw"
        and state.removed - base.name.removed <= REMOVED_SHARE * base.ntotal
    )
    if extend and base is not None:
        ids, matrix = _rows(state.scope, above=base.name.high, upto=state.high, dim=state.dim)
        index = vectors.read_writable(base)
        index.add(matrix)
        ids = np.concatenate([np.asarray(base.ids), ids])
    else:
        ids, matrix = rows or _rows(state.scope, above=0, upto=state.high, dim=state.dim)
        index = vectors.build(matrix, kind=kind, ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH)
    name = Name(state.scope, state.stamp, state.high, state.removed)
    vectors.write(folder, name, index, ids)
    log.info(
        "wrote the %s index snapshot: %d vectors, %s, up to chunk %d",
        state.scope,
        len(ids),
        kind,
        state.high,
    )
    opened = vectors.open_snapshot(folder, name, ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH)
    if opened is None:  # the folder cannot be read back: search the copy in memory
        opened = Snapshot(name=name, index=index, ids=ids)
    vectors.discard(folder, state.scope, keep=name)
    return opened


def _rows(scope: str, *, above: int, upto: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The scope's chunk ids and vectors in ``(above, upto]``, by id."""
    if upto <= above:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    rows = (
        Chunk.objects.filter(scope=scope, id__gt=above, id__lte=upto)
        .order_by("id")
        .values_list("id", "vector")
    )
    ids: list[int] = []
    blobs: list[bytes] = []
    for chunk_id, blob in rows.iterator(chunk_size=_READ_BATCH):
        ids.append(chunk_id)
        blobs.append(bytes(blob))
    return np.asarray(ids, dtype=np.int64), vectors.stack(blobs, dim=dim)


def _count(state: IndexState) -> int:
    return Chunk.objects.filter(scope=state.scope, id__lte=state.high).count()


STATE_FIELDS = ("id", "scope", "embedder", "dim", "stamp", "high", "removed")


def states(scopes: Sequence[str], *, for_update: bool = False) -> list[IndexState]:
    """The scopes' index states (those that exist), by scope, in one query; ``for_update``
    locks their rows in that order, on a database that has row locks (see `core.statements`
    for why it is written out). Locks are only taken inside a transaction."""
    conn = statements.db()
    if for_update and not conn.in_atomic_block:
        raise TransactionManagementError("Locking index states needs a transaction.")
    if not scopes:
        return []
    lock = for_update and conn.features.has_select_for_update
    rows = statements.fetch(_state_select(conn.vendor, len(scopes), lock), scopes)
    return [IndexState(**dict(zip(STATE_FIELDS, row, strict=True))) for row in rows]


@functools.cache
def _state_select(vendor: str, count: int, lock: bool) -> str:
    """`SELECT` of `STATE_FIELDS` for ``count`` scopes, by scope, locking them with ``lock``:
    written out once per shape (``vendor`` keys the cache, since quoting is the backend's)."""
    fields = ", ".join(statements.column(IndexState, name) for name in STATE_FIELDS)
    scope = statements.column(IndexState, "scope")
    sql = (
        f"SELECT {fields} FROM {statements.table(IndexState)} "  # noqa: S608
        f"WHERE {scope} IN ({statements.placeholders(count)}) ORDER BY {scope}"
    )
    return f"{sql} {connection.ops.for_update_sql()}" if lock else sql


def _state(scope: str) -> IndexState | None:
    found = states([scope])
    return found[0] if found else None


def _remember(scope_index: Loaded) -> None:
    scope = scope_index.scope
    with _cache_lock:
        cached = _cache.get(scope)
        if cached is None or cached.stamp != scope_index.stamp or cached.high <= scope_index.high:
            _cache[scope] = scope_index  # never replace a newer index with an older one
            _cache.move_to_end(scope)
        while len(_cache) > CACHE_SCOPES:
            _cache.popitem(last=False)


@contextmanager
def _scope_lock(scope: str) -> Iterator[None]:
    """One snapshot writer per scope across the processes of this machine (a file lock)."""
    folder = index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{scope}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
