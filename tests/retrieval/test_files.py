"""Index files: additions are appended rather than the whole index written again, and a file
whose end is torn or damaged reads as the version before, never as a wrong index."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from accounts.models import User
from providers.text import hashing_embed
from retrieval import index, selectors, services, vectors
from retrieval.models import Chunk, IndexState, user_scope

DIM = 384


def _header(version: int, kind: vectors.IndexKind = "flat") -> vectors.Header:
    return vectors.Header(
        scope="user-1", version=version, embedder="hashing", dim=DIM, kind=kind, stamp=f"s{version}"
    )


def _rows(texts: list[str]) -> np.ndarray:
    return hashing_embed(texts)


def _saved(path: Path, count: int, kind: vectors.IndexKind = "flat") -> vectors.LoadedIndex:
    texts = [f"exchange {n} about topic{n}" for n in range(count)]
    loaded = vectors.build(
        header=_header(1, kind),
        ids=np.arange(1, count + 1, dtype=np.int64),
        vectors=_rows(texts),
        ef_search=64,
    )
    vectors.save(loaded, path)
    return loaded


def _built(header: vectors.Header, ids: range) -> vectors.LoadedIndex:
    """An index in memory holding ``ids``, each with its exchange's vector."""
    return vectors.build(
        header=header,
        ids=np.asarray(ids, dtype=np.int64),
        vectors=_rows([f"exchange {n} about topic{n}" for n in ids]),
        ef_search=64,
    )


def _add(path: Path, before: vectors.Header, ids: list[int]) -> vectors.Header:
    after = _header(before.version + 1, before.kind)
    rows = _rows([f"exchange {n} about topic{n}" for n in ids])
    assert vectors.append(
        path, before=before, after=after, ids=np.asarray(ids, np.int64), vectors=rows
    )
    return after


def _remember_exchange(user: User, number: int) -> None:
    services.remember(
        user_id=user.pk,
        conversation_id=number,
        question=f"Question {number} about topping{number}?",
        answer=f"Answer {number}.",
        conversation_title="",
    )


def _contents(loaded: vectors.LoadedIndex) -> dict[int, list[tuple[int, float]]]:
    """What each stored exchange's own text finds: the index's behaviour, not its bytes."""
    ids = sorted(int(i) for i in vectors.ids_of(loaded))
    questions = _rows([f"exchange {n} about topic{n}" for n in ids])
    return {n: loaded.search(q, 3, sparse=False) for n, q in zip(ids, questions, strict=True)}


def test_additions_are_appended_and_load_as_the_index_they_make(tmp_path: Path) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    written = path.read_bytes()

    header = _add(path, base.header, [6])
    header = _add(path, header, [7, 8])

    assert path.read_bytes().startswith(written)  # the index was not written again
    assert vectors.read_header(path) == header == _header(3)
    loaded = vectors.load(path, ef_search=64)
    assert loaded is not None and loaded.header == header
    expected = vectors.copy(base)
    vectors.add(
        expected,
        ids=np.arange(6, 9, dtype=np.int64),
        vectors=_rows([f"exchange {n} about topic{n}" for n in range(6, 9)]),
    )
    assert _contents(loaded) == _contents(expected)
    assert _contents(loaded)[7][0][0] == 7


def test_an_hnsw_graph_takes_appended_additions_too(tmp_path: Path) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 20, kind="hnsw")

    header = _add(path, base.header, [21, 22])
    loaded = vectors.load(path, ef_search=64)

    assert loaded is not None and loaded.header == header and loaded.ntotal == 22
    assert _contents(loaded)[22][0][0] == 22


@pytest.mark.parametrize("damage", ["torn", "flipped", "garbage"])
def test_a_damaged_last_change_reads_as_the_version_before_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    second = _add(path, base.header, [6])
    whole = path.stat().st_size
    _add(path, second, [7])
    data = bytearray(path.read_bytes())
    if damage == "torn":  # a writer died half-way through
        data = data[: len(data) - 100]
    elif damage == "flipped":  # a byte of the last vector changed
        data[-5] ^= 0xFF
    else:
        data[whole:] = b"\x00" * (len(data) - whole)
    path.write_bytes(bytes(data))

    assert vectors.read_header(path) == second
    loaded = vectors.load(path, ef_search=64)
    assert loaded is not None and loaded.header == second
    assert sorted(vectors.ids_of(loaded)) == [1, 2, 3, 4, 5, 6]
    # The next writer drops the damaged end before it appends.
    _add(path, second, [8])
    mended = vectors.load(path, ef_search=64)
    assert mended is not None and sorted(vectors.ids_of(mended)) == [1, 2, 3, 4, 5, 6, 8]


def test_a_file_read_before_is_read_on_from_where_its_last_reading_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    header = base.header
    for new_id in (6, 7, 8):
        header = _add(path, header, [new_id])
    assert vectors.read_header(path) == header
    newest = _add(path, header, [9])  # as another process would: the file takes one change more
    checked: list[int] = []
    checksum = vectors._checksum

    def counted(version: int, stamp: str, count: int, body: bytes) -> int:
        checked.append(version)
        return checksum(version, stamp, count, body)

    monkeypatch.setattr(vectors, "_checksum", counted)

    assert vectors.read_header(path) == newest == _header(5)
    assert checked == [5]  # only the change appended since was read
    # Written whole (a new file at that path), it is read from its start again.
    rebuilt = _built(replace(_header(5), stamp="rebuilt"), range(1, 10))
    vectors.save(rebuilt, path)
    assert vectors.read_header(path) == rebuilt.header
    after_rebuild = _add(path, rebuilt.header, [10])
    assert vectors.read_header(path) == after_rebuild
    loaded = vectors.load(path, ef_search=64)
    assert loaded is not None and sorted(vectors.ids_of(loaded)) == list(range(1, 11))


def test_a_torn_change_read_before_the_next_writer_mends_it_is_read_mended(
    tmp_path: Path,
) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    second = _add(path, base.header, [6])
    third = _add(path, second, [7])
    with path.open("r+b") as file:  # the last change's writer died half-way through it
        file.truncate(path.stat().st_size - 100)
    assert vectors.read_header(path) == second

    mended = _add(path, second, [8])

    assert mended == third  # the same version, now with the next writer's vector
    assert vectors.read_header(path) == mended
    behind = _built(base.header, range(1, 6))
    caught_up = vectors.catch_up(path, behind)
    assert caught_up is not None and caught_up.header == mended
    assert sorted(vectors.ids_of(caught_up)) == [1, 2, 3, 4, 5, 6, 8]


@pytest.mark.parametrize(
    ("before", "after", "file"),
    [
        (_header(7), _header(8), "user-1"),  # the file is at another version
        (_header(1), _header(2), "none"),  # there is no file
        (_header(1), _header(2, "hnsw"), "user-1"),  # the kind changes too
        (_header(1), _header(3), "user-1"),  # a version skipped
    ],
)
def test_only_the_next_version_of_the_file_is_appended(
    tmp_path: Path, before: vectors.Header, after: vectors.Header, file: str
) -> None:
    path = tmp_path / "user-1.faiss"
    _saved(path, 5)
    written = path.read_bytes()

    appended = vectors.append(
        tmp_path / f"{file}.faiss",
        before=before,
        after=after,
        ids=np.asarray([9]),
        vectors=_rows(["late"]),
    )

    assert not appended
    assert path.read_bytes() == written


def test_after_enough_changes_a_file_takes_no_more(tmp_path: Path) -> None:
    path = tmp_path / "user-1.faiss"
    header = _saved(path, 3).header
    for number in range(vectors.MAX_CHANGES):
        header = _add(path, header, [10 + number])

    refused = vectors.append(
        path,
        before=header,
        after=_header(header.version + 1),
        ids=np.asarray([99]),
        vectors=_rows(["one more"]),
    )

    loaded = vectors.load(path, ef_search=64)
    assert not refused
    assert loaded is not None and loaded.ntotal == 3 + vectors.MAX_CHANGES


def test_a_file_of_the_format_before_appending_still_loads_and_is_saved_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 4)
    fields = {key: value for key, value in base.header.__dict__.items()}
    payload = faiss.serialize_index(base.index)
    path.write_bytes(b"TALLY-FAISS 1\n" + json.dumps(fields).encode() + b"\n" + payload.data)

    loaded = vectors.load(path, ef_search=64)
    refused = vectors.append(
        path, before=base.header, after=_header(2), ids=np.asarray([5]), vectors=_rows(["x"])
    )

    assert loaded is not None and loaded.header == base.header and loaded.ntotal == 4
    assert not refused


@pytest.mark.django_db
def test_each_remembered_exchange_appends_to_the_users_file(user: User, settings: Any) -> None:
    _remember_exchange(user, 1)
    path = settings.DATA_DIR / "index" / f"{user_scope(user.pk)}.faiss"
    first = path.read_bytes()
    for number in range(2, 6):
        _remember_exchange(user, number)

    assert path.read_bytes().startswith(first)
    state = IndexState.objects.get(scope=user_scope(user.pk))
    header = vectors.read_header(path)
    assert header is not None and header.version == state.version
    index.reset_cache()  # as another worker: it reads the file, with every change in it
    passages = selectors.passages_for(user, "topping4")
    assert passages[0].text.startswith("Q: Question 4 about topping4?")
    loaded = index.loaded(state)
    assert sorted(vectors.ids_of(loaded)) == sorted(
        Chunk.objects.filter(scope=user_scope(user.pk)).values_list("id", flat=True)
    )


def test_a_change_whose_label_was_altered_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    _add(path, base.header, [6])
    path.write_bytes(path.read_bytes().replace(b'"stamp": "s2"', b'"stamp": "s9"'))

    assert vectors.read_header(path) == base.header


def test_an_index_in_memory_catches_up_from_the_changes_appended_after_it(tmp_path: Path) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    second = _add(path, base.header, [6])
    behind = vectors.load(path, ef_search=64)  # what another process has cached
    assert behind is not None
    third = _add(path, second, [7, 8])
    _add(path, third, [9])
    header_line = path.read_bytes().index(b'"payload"')
    payload_start = path.read_bytes().index(b"\n", header_line) + 1
    whole = vectors.load(path, ef_search=64)
    data = bytearray(path.read_bytes())
    data[payload_start : payload_start + 64] = b"\xff" * 64  # FAISS's own bytes, unread
    path.write_bytes(bytes(data))
    assert vectors.load(path, ef_search=64) is None

    caught_up = vectors.catch_up(path, behind)

    assert whole is not None and caught_up is not None
    assert caught_up.header == whole.header == _header(4)
    assert _contents(caught_up) == _contents(whole)
    assert behind.ntotal == 6 and behind.header == second  # searched on, untouched
    assert vectors.catch_up(path, caught_up) is caught_up  # nothing newer: nothing copied


def test_an_index_the_file_does_not_continue_is_not_caught_up(tmp_path: Path) -> None:
    path = tmp_path / "user-1.faiss"
    base = _saved(path, 5)
    _add(path, base.header, [6])
    written_whole = _built(replace(_header(2), stamp="rebuilt"), range(1, 7))
    vectors.save(written_whole, path)

    assert vectors.catch_up(path, base) is None  # its changes start from another index
    assert vectors.catch_up(tmp_path / "missing.faiss", base) is None


@pytest.mark.django_db
def test_a_worker_behind_another_reads_only_the_new_memories(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    _remember_exchange(user, 1)
    _remember_exchange(user, 2)
    scope = user_scope(user.pk)
    behind = index.loaded(IndexState.objects.get(scope=scope))
    _remember_exchange(user, 3)  # as the other worker: its change is appended to the file
    index.reset_cache()
    index._remember(behind)
    whole_reads: list[str] = []
    monkeypatch.setattr(index, "_load", lambda scope: whole_reads.append(scope))

    passages = selectors.passages_for(user, "topping3")

    assert passages[0].text.startswith("Q: Question 3 about topping3?")
    assert whole_reads == []
    state = IndexState.objects.get(scope=scope)
    assert sorted(vectors.ids_of(index.loaded(state))) == sorted(
        Chunk.objects.filter(scope=scope).values_list("id", flat=True)
    )
