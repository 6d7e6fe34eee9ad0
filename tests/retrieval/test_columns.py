"""Sparse queries scored from an exact index's columns: the same hits as FAISS's scan, kept in
step with every change, and only where they are the cheaper exact search."""

from __future__ import annotations

import time
from typing import Any

import faiss
import numpy as np
import pytest
from rest_framework.test import APIClient

from providers.text import hashing_embed
from retrieval import index, selectors, services, vectors
from retrieval.models import SHARED_SCOPE, IndexState, user_scope
from tests.retrieval.conftest import search, upload
from tests.retrieval.test_search import CORPUS

WORDS = [
    f"{a}{b}{c}" for a in "pmtvqrkls" for b in ("el", "ar", "os", "in", "ua") for c in range(40)
]


def _texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=30)) for _ in range(count)]


def _rows(count: int) -> np.ndarray:
    return hashing_embed(_texts(count, seed=1))


def _index(count: int, *, kind: vectors.IndexKind = "flat") -> vectors.LoadedIndex:
    header = vectors.Header(scope="shared", version=1, embedder="hashing", dim=384, kind=kind)
    ids = np.arange(count, dtype=np.int64) * 3 + 5  # ids are not positions
    return vectors.build(header=header, ids=ids, vectors=_rows(count), ef_search=64)


def _assert_exact(hits: list[tuple[int, float]], rows: np.ndarray, question: np.ndarray) -> None:
    """``hits`` are a true top k by float32 inner product, best first, up to fp16 rounding:
    each score within 3e-4 of the true one, none below the true k-th best by more than that."""
    truth = rows @ question
    kth = np.sort(truth)[-len(hits)]
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({chunk_id for chunk_id, _ in hits}) == len(hits)
    for chunk_id, score in hits:
        true = truth[(chunk_id - 5) // 3]
        assert abs(score - true) < 3e-4
        assert true >= kth - 6e-4


def _questions(count: int) -> np.ndarray:
    return hashing_embed([" ".join(text.split()[:5]) for text in _texts(count, seed=2)])


def _wait_for_columns(loaded: vectors.LoadedIndex) -> None:
    deadline = time.monotonic() + 30
    while not loaded.columns_ready:
        assert time.monotonic() < deadline, "the column copy was never made"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def large() -> vectors.LoadedIndex:
    return _index(vectors.SPARSE_MIN_VECTORS + 500)


def test_columns_find_the_true_top_k_as_the_faiss_scan_does(large: vectors.LoadedIndex) -> None:
    rows = _rows(large.ntotal)
    for question in _questions(40):
        assert large.sparse_for(question)
        _assert_exact(large.search(question, 10, sparse=False), rows, question)
        _assert_exact(large.column_search(question, 10), rows, question)


def test_search_switches_to_the_columns_once_the_copy_is_made() -> None:
    loaded = _index(vectors.SPARSE_MIN_VECTORS)
    question = _questions(1)[0]
    assert not loaded.columns_ready
    assert loaded.search(question, 5) == loaded.search(question, 5, sparse=False)
    _wait_for_columns(loaded)  # the first search started the copy
    assert loaded.search(question, 5) == loaded.column_search(question, 5)


def test_adding_and_removing_vectors_drops_the_copy(large: vectors.LoadedIndex) -> None:
    loaded = _index(vectors.SPARSE_MIN_VECTORS)
    question = hashing_embed(["zebra quokka narwhal"])[0]
    loaded.column_search(question, 1)
    vectors.add(loaded, ids=np.asarray([10**9]), vectors=question.reshape(1, -1))
    assert not loaded.columns_ready
    assert loaded.column_search(question, 1)[0][0] == 10**9
    vectors.remove(loaded, ids=np.asarray([10**9]))
    assert not loaded.columns_ready
    _assert_exact(loaded.column_search(question, 3), _rows(loaded.ntotal), question)


def test_only_sparse_queries_on_large_exact_indexes_use_columns(
    large: vectors.LoadedIndex,
) -> None:
    dense = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    assert not large.sparse_for(dense)
    small = _index(100)
    assert not small.sparse_for(_questions(1)[0])
    assert small.search(_questions(1)[0], 3) and not small.columns_ready
    graph = _index(300, kind="hnsw")
    assert not graph.sparse_for(_questions(1)[0])


@pytest.mark.django_db
def test_documents_are_found_through_the_columns_and_deleted_ones_are_not(
    staff_api: APIClient, user_api: APIClient, monkeypatch: Any, settings: Any
) -> None:
    monkeypatch.setattr(vectors, "SPARSE_MIN_VECTORS", 1)
    ids = {}
    for name, text in CORPUS.items():
        ids[name] = upload(staff_api, name, text, shared="true").json()["id"]
    question = "my meal arrived cold, can I get a refund"
    search(user_api, question)  # loads the shared index and starts its column copy
    shared = index.loaded(IndexState.objects.get(scope=SHARED_SCOPE))
    _wait_for_columns(shared)
    hits = search(user_api, question)
    assert hits[0]["document"] == ids["refunds.txt"]
    settings.RETRIEVAL_SPARSE_SCAN = False
    scanned = search(user_api, question)  # FAISS agrees
    assert [hit["chunk"] for hit in scanned] == [hit["chunk"] for hit in hits]
    assert np.allclose([h["score"] for h in scanned], [h["score"] for h in hits], atol=3e-4)
    settings.RETRIEVAL_SPARSE_SCAN = True
    assert staff_api.delete(f"/api/documents/{ids['refunds.txt']}/").status_code == 204
    search(user_api, question)  # loads the changed index and starts its copy
    _wait_for_columns(index.loaded(IndexState.objects.get(scope=SHARED_SCOPE)))
    assert ids["refunds.txt"] not in {hit["document"] for hit in search(user_api, question)}


def test_a_copy_changes_without_touching_the_original_index_searches_use() -> None:
    for kind in ("flat", "hnsw"):
        original = _index(300, kind=kind)
        if kind == "hnsw":
            graph: Any = faiss.downcast_index(original.index.index)
            graph.hnsw.efSearch = 77
        question = _questions(1)[0]
        before = original.search(question, 3)

        changed = vectors.copy(original)
        vectors.add(changed, ids=np.asarray([10**9]), vectors=question.reshape(1, -1))

        assert original.ntotal == 300 and original.search(question, 3) == before
        assert changed.ntotal == 301 and changed.search(question, 1)[0][0] == 10**9
        if kind == "hnsw":
            copied: Any = faiss.downcast_index(changed.index.index)
            assert copied.hnsw.efSearch == 77


@pytest.mark.django_db
def test_a_memory_updates_a_copy_of_the_cached_index(user: Any) -> None:
    def remember(question: str) -> None:
        services.remember(
            user_id=user.pk,
            conversation_id=1,
            question=question,
            answer="Yes.",
            conversation_title="",
        )

    remember("Do you deliver to the harbour?")
    cached = index.loaded(IndexState.objects.get(scope=user_scope(user.pk)))
    remember("Is the tiramisu homemade?")

    assert cached.ntotal == 1  # a search holding it is not disturbed
    assert index.loaded(IndexState.objects.get(scope=user_scope(user.pk))).ntotal == 2
    assert selectors.passages_for(user, "tiramisu")[0].text.startswith("Q: Is the tiramisu")


def test_ties_at_the_last_place_go_to_the_earliest_vectors_as_in_faiss() -> None:
    # FAISS keeps the earliest of tied vectors too (it lists them latest first; the search
    # above the index sorts ties by id).
    rows = _rows(40)
    rows[10:30] = rows[3]  # twenty-one copies of one vector
    header = vectors.Header(scope="shared", version=1, embedder="hashing", dim=384, kind="flat")
    ids = np.arange(40, dtype=np.int64) * 3 + 5
    loaded = vectors.build(header=header, ids=ids, vectors=rows, ef_search=64)

    for question in (rows[3], np.zeros(384, dtype=np.float32)):
        found = {chunk_id for chunk_id, _ in loaded.column_search(question, 4)}
        assert found == {chunk_id for chunk_id, _ in loaded.search(question, 4, sparse=False)}
    assert [i for i, _ in loaded.column_search(rows[3], 4)] == [14, 35, 38, 41]


def test_a_failed_copy_leaves_faiss_answering_and_is_not_retried_at_once(
    monkeypatch: Any,
) -> None:
    attempts = []

    def failing(index: Any, dim: int) -> Any:
        attempts.append(dim)
        raise MemoryError("no room for the columns")

    monkeypatch.setattr(vectors, "_columns_of", failing)
    loaded = _index(vectors.SPARSE_MIN_VECTORS)
    question = _questions(1)[0]
    expected = loaded.search(question, 5, sparse=False)

    assert loaded.search(question, 5) == expected
    deadline = time.monotonic() + 10
    while loaded._building or not attempts:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert loaded.search(question, 5) == expected  # FAISS again, no new attempt
    assert len(attempts) == 1 and not loaded.columns_ready
