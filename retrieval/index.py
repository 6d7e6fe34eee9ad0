"""The per-scope FAISS indexes of this process: loaded once, kept in sync with the database.

The database is the source of truth. Each scope (`shared`, `user-<id>`) has an `IndexState`
whose version moves in the same transaction as its chunks, and a file under
`DATA_DIR/index/` saved with the version it reflects. A search checks every scope it needs
with one query and reloads a scope only when its version moved: from the file when another
worker of this machine already wrote it, else by rebuilding from the stored vectors (another
machine wrote, or a writer died between its commit and its file).
"""

from __future__ import annotations

import fcntl
import functools
import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.db.transaction import TransactionManagementError
from django.dispatch import receiver

from core import statements
from retrieval import vectors
from retrieval.exceptions import EmbedderMismatch
from retrieval.models import Chunk, IndexState
from retrieval.vectors import Header, LoadedIndex

log = logging.getLogger(__name__)

# Scopes kept in memory per process; the least recently searched are dropped first.
CACHE_SCOPES = 512
# The (version, stamp) of a scope no change has reached yet.
_EMPTY = (0, "")
# Rows read per query when rebuilding a scope from the database.
_REBUILD_BATCH = 5000

_cache: OrderedDict[str, LoadedIndex] = OrderedDict()
_cache_lock = threading.Lock()
# Held while a scope is loaded into the cache; scopes share 64 locks by hash.
_LOADING = [threading.Lock() for _ in range(64)]
# Scopes whose file updates are put off until the end of a bulk load (see `deferred`).
_deferred = threading.local()


def index_dir() -> Path:
    return _index_dir(str(settings.DATA_DIR))


@functools.cache
def _index_dir(data_dir: str) -> Path:
    return Path(data_dir) / "index"  # built once: a memory batch asks for it a few times a user


def reset_cache() -> None:
    """Forget every loaded index (tests; settings changes)."""
    with _cache_lock:
        _cache.clear()


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
    query); a scope whose loaded index is older is reloaded first.
    """
    best: dict[int, float] = {}
    exhausted = True
    for state in states:
        scope_index = loaded(state)
        exhausted = exhausted and scope_index.ntotal <= k
        for chunk_id, score in scope_index.search(query, k, sparse=settings.RETRIEVAL_SPARSE_SCAN):
            best[chunk_id] = max(score, best.get(chunk_id, score))
    hits = sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))
    return hits, exhausted


def loaded(state: IndexState) -> LoadedIndex:
    """The scope's index as of ``state``, from the cache, its file or the database.

    Threads of this process that miss the cache for the same scope load it once: the first
    loads, the others wait for it (a 100k-chunk index is ~80 MB to read).
    """
    scope, wanted = state.scope, (state.version, state.stamp)
    cached = _cached(scope, wanted)
    if cached is not None:
        return cached
    with _LOADING[zlib.crc32(scope.encode()) % len(_LOADING)]:
        cached = _cached(scope, wanted)
        if cached is not None:
            return cached
        found = _caught_up(scope)
        if found is None:  # nothing cached that the file's changes continue: read it whole
            header = vectors.read_header(_path(scope))
            found = _load(scope) if header is not None and _mark(header) == wanted else None
        if found is None or _mark(found.header) != wanted:
            # Missing, or written at another version: settle it under the writers' lock,
            # against the version as it is now (a writer may have committed since the
            # caller's query).
            with _scope_lock(scope):
                found = _current_from_file(scope) or _rebuild_and_save(scope)
        _remember(found)
        return found


def _caught_up(scope: str) -> LoadedIndex | None:
    """The cached index of the scope, at whatever version, brought up to its file by the
    changes appended since: another process remembering a chat costs this one the new
    vectors, not a reload of the whole index. None when the file does not continue it."""
    with _cache_lock:
        stale = _cache.get(scope)
    return vectors.catch_up(_path(scope), stale) if stale is not None else None


def _cached(scope: str, wanted: tuple[int, str]) -> LoadedIndex | None:
    with _cache_lock:
        cached = _cache.get(scope)
        if cached is not None and _mark(cached.header) == wanted:
            _cache.move_to_end(scope)
            return cached
    return None


@dataclass(frozen=True)
class Change:
    """A committed change of a scope: its new version and stamp, and the stamp before it."""

    version: int
    stamp: str
    previous: str


@dataclass(frozen=True)
class Update:
    """A committed change of one scope and the vectors it added or removed."""

    change: Change
    added_ids: np.ndarray | None = None
    added_vectors: np.ndarray | None = None
    removed_ids: np.ndarray | None = None

    @property
    def adds(self) -> int:
        return 0 if self.added_ids is None else len(self.added_ids)

    @property
    def removes(self) -> int:
        return 0 if self.removed_ids is None else len(self.removed_ids)


def apply(
    scope: str,
    *,
    change: Change,
    added_ids: np.ndarray | None = None,
    added_vectors: np.ndarray | None = None,
    removed_ids: np.ndarray | None = None,
) -> None:
    """Bring the scope's file up to date after ``change`` committed.

    When the file is exactly one version behind, the change is applied to it; otherwise (other
    changes interleaved, an HNSW index losing vectors, a flat index outgrowing the exact-search
    threshold) the scope is rebuilt from the database. Never raises: a failure only leaves the
    file stale, and the next search rebuilds it.
    """
    apply_all({scope: Update(change, added_ids, added_vectors, removed_ids)})


def apply_all(updates: Mapping[str, Update]) -> None:
    """`apply` for several scopes changed by one transaction: their locks are taken in scope
    order and their versions read in one query. Never raises."""
    pending: set[str] | None = getattr(_deferred, "scopes", None)
    if pending is not None:
        pending.update(updates)
        return
    scopes = sorted(updates)
    try:
        with ExitStack() as locks:
            for scope in scopes:
                locks.enter_context(_scope_lock(scope))
            states = _db_states(scopes)
            for scope in scopes:
                _apply_one(scope, updates[scope], states[scope])
    except Exception:
        log.exception("could not update the %s indexes; they will be rebuilt on next use", scopes)


def _apply_one(scope: str, update: Update, state: IndexState) -> None:
    """One scope of `apply_all`, under its lock; ``state`` is its row in the database now."""
    mark = (state.version, state.stamp)
    try:
        current = (
            _current_from_file(scope, mark)
            or _apply_delta(scope, update, state)
            or _rebuild_and_save(scope)
        )
        _remember(current)
    except Exception:
        log.exception("could not update the %s index; it will be rebuilt on next use", scope)


@contextmanager
def deferred() -> Iterator[set[str]]:
    """Put off this thread's file updates, then rebuild each touched scope once.

    A bulk load of thousands of documents would otherwise rewrite a growing file per document.
    """
    outer: set[str] | None = getattr(_deferred, "scopes", None)
    if outer is not None:
        yield outer
        return
    scopes: set[str] = set()
    _deferred.scopes = scopes
    try:
        yield scopes
    finally:
        del _deferred.scopes
        for scope in sorted(scopes):
            try:
                rebuild(scope)
            except Exception:
                log.exception("could not rebuild the %s index; it will be on next use", scope)


def rebuild(scope: str) -> LoadedIndex:
    """Rebuild the scope from the database and save it (``manage.py rebuild_index``)."""
    with _scope_lock(scope):
        fresh = _rebuild_and_save(scope)
    _remember(fresh)
    return fresh


def kind_for(count: int) -> vectors.IndexKind:
    """Exact search while it is fast enough; an HNSW graph above the threshold."""
    return "hnsw" if count > settings.RETRIEVAL_HNSW_THRESHOLD else "flat"


def _apply_delta(scope: str, delta: Update, state: IndexState) -> LoadedIndex | None:
    """The index with one change applied, and its file brought to it (the additions appended,
    or the whole index saved); None when the scope needs a rebuild.

    ``state`` is the scope's row in the database, read under the scope's lock, which the
    caller must hold.
    """
    change = delta.change
    if (state.version, state.stamp) != (change.version, change.stamp):
        return None  # other changes committed since: only a rebuild sees them all
    previous = (change.version - 1, change.previous)
    cached = _cached(scope, previous)  # usually: the chat that led to the change searched it
    base = vectors.copy(cached) if cached is not None else _load(scope)
    if base is None and previous == _EMPTY:  # the scope's first change: nothing to read
        base = _empty(state)
    if base is None or _mark(base.header) != previous:
        return None
    if delta.removes and base.header.kind == "hnsw":
        return None  # an HNSW graph cannot drop vectors
    if base.header.kind == "flat" and kind_for(base.ntotal + delta.adds) == "hnsw":
        return None  # outgrew exact search
    # Both sides are unique ids (of new rows, and of an index's chunks): saying so spares
    # numpy the sort it would make of each to find out.
    already = delta.added_ids is not None and (
        np.isin(delta.added_ids, vectors.ids_of(base), assume_unique=True).any()
    )
    if already:
        return None  # a rebuild already picked these rows up; adding twice would duplicate
    if delta.removed_ids is not None and delta.removes:
        vectors.remove(base, ids=delta.removed_ids)
    if delta.added_ids is not None and delta.added_vectors is not None and delta.adds:
        vectors.add(base, ids=delta.added_ids, vectors=delta.added_vectors)
    before, base.header = (
        base.header,
        replace(base.header, version=change.version, stamp=change.stamp),
    )
    # Additions only: the file takes them at its end, unless it is due to be written whole.
    appended = (
        not delta.removes
        and delta.added_ids is not None
        and delta.added_vectors is not None
        and vectors.append(
            _path(scope),
            before=before,
            after=base.header,
            ids=delta.added_ids,
            vectors=delta.added_vectors,
        )
    )
    if not appended:
        vectors.save(base, _path(scope))
    return base


def _current_from_file(scope: str, current: tuple[int, str] | None = None) -> LoadedIndex | None:
    """The saved index when it matches the database's version (``current``, or read now)."""
    current = _db_mark(scope) if current is None else current
    header = vectors.read_header(_path(scope))
    if header is None or _mark(header) != current:
        return None
    with _cache_lock:
        cached = _cache.get(scope)
        if cached is not None and cached.header == header:
            return cached
    found = _caught_up(scope) or _load(scope)
    return found if found is not None and found.header == header else None


def _rebuild_and_save(scope: str) -> LoadedIndex:
    # The version is read before the rows: rows committed in between make the index newer
    # than its label, which only costs one more rebuild; the reverse would hide them.
    state = IndexState.objects.filter(scope=scope).first() or _no_state(scope)
    rows = Chunk.objects.filter(scope=scope).order_by("id").values_list("id", "vector")
    ids: list[int] = []
    blobs: list[bytes] = []
    for chunk_id, blob in rows.iterator(chunk_size=_REBUILD_BATCH):
        ids.append(chunk_id)
        blobs.append(bytes(blob))
    dim = state.dim or (len(blobs[0]) // 4 if blobs else 1)
    header = Header(
        scope=scope,
        version=state.version,
        embedder=state.embedder,
        dim=dim,
        kind=kind_for(len(ids)),
        stamp=state.stamp,
    )
    fresh = vectors.build(
        header=header,
        ids=np.asarray(ids, dtype=np.int64),
        vectors=vectors.stack(blobs, dim=dim) if blobs else np.zeros((0, dim), np.float32),
        ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH,
    )
    vectors.save(fresh, _path(scope))
    log.info(
        "rebuilt the %s index: %d vectors, %s, v%d", scope, len(ids), header.kind, state.version
    )
    return fresh


STATE_FIELDS = ("id", "scope", "embedder", "dim", "version", "stamp")


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


def _db_mark(scope: str) -> tuple[int, str]:
    """The scope's (version, stamp) in the database now."""
    state = _db_states([scope])[scope]
    return state.version, state.stamp


def _db_states(scopes: Sequence[str]) -> dict[str, IndexState]:
    """Each scope's row in the database now, in one query (an unsaved empty one if none)."""
    found = {state.scope: state for state in states(scopes)}
    return {scope: found.get(scope) or _no_state(scope) for scope in scopes}


def _no_state(scope: str) -> IndexState:
    return IndexState(scope=scope, embedder="", dim=0, version=_EMPTY[0], stamp=_EMPTY[1])


def _empty(state: IndexState) -> LoadedIndex:
    """The scope as it is before its first change: no vectors."""
    header = Header(
        scope=state.scope, version=_EMPTY[0], embedder=state.embedder, dim=state.dim, kind="flat"
    )
    return vectors.build(
        header=header,
        ids=np.zeros(0, np.int64),
        vectors=np.zeros((0, state.dim), np.float32),
        ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH,
    )


def _mark(header: Header) -> tuple[int, str]:
    return header.version, header.stamp


def _remember(index: LoadedIndex) -> None:
    scope = index.header.scope
    with _cache_lock:
        cached = _cache.get(scope)
        if cached is None or cached.header.version <= index.header.version:
            _cache[scope] = index  # never replace a newer index with an older one
            _cache.move_to_end(scope)
        while len(_cache) > CACHE_SCOPES:
            _cache.popitem(last=False)


def _load(scope: str) -> LoadedIndex | None:
    return vectors.load(_path(scope), ef_search=settings.RETRIEVAL_HNSW_EF_SEARCH)


def _path(scope: str) -> Path:
    return index_dir() / f"{scope}.faiss"


@contextmanager
def _scope_lock(scope: str) -> Iterator[None]:
    """One writer per scope across the processes of this machine (an advisory file lock)."""
    folder = index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{scope}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
