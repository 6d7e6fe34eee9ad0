"""Search: ranking on a known corpus, privacy between users, deletes, rebuilds, HNSW and the
refusal to mix embedders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import User
from retrieval import index, selectors, services
from retrieval.exceptions import EmbedderMismatch
from retrieval.models import SHARED_SCOPE, Chunk, Document, IndexState, user_scope
from tests.conftest import client_for
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db

CORPUS = {
    "pizza.txt": "Our margherita pizza is baked in a wood-fired oven with fresh mozzarella, "
    "San Marzano tomatoes and basil.",
    "delivery.txt": "Delivery is free for orders above twenty euros within the city ring; "
    "couriers arrive in thirty minutes.",
    "refunds.txt": "Refunds: a cold or wrong meal is refunded in full if you call within one "
    "hour of delivery.",
    "allergens.txt": "Allergens: the gluten-free base is prepared separately; nuts are used "
    "in the pesto and the tiramisu.",
    "hours.txt": "Opening hours: Tuesday to Sunday from noon until midnight; closed Mondays.",
}


@pytest.fixture
def corpus(staff_api: APIClient) -> dict[str, int]:
    ids = {}
    for name, text in CORPUS.items():
        response = upload(staff_api, name, text, shared="true")
        assert response.status_code == 201
        ids[name] = response.json()["id"]
    return ids


def _scope_size(scope: str) -> int:
    state = IndexState.objects.get(scope=scope)
    return index.loaded(state).ntotal


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("is delivery free?", "delivery.txt"),
        ("is the tiramisu safe with a nut allergy or gluten", "allergens.txt"),
        ("when are you open on sunday", "hours.txt"),
        ("my meal arrived cold, can I get a refund", "refunds.txt"),
        ("do you use a wood fired oven for pizza", "pizza.txt"),
    ],
)
def test_search_ranks_the_right_chunk_first(
    user_api: APIClient, corpus: dict[str, int], question: str, expected: str
) -> None:
    hits = search(user_api, question, k=3)

    assert hits[0]["document"] == corpus[expected]
    assert hits[0]["title"] == expected.removesuffix(".txt")
    assert hits[0]["score"] > 0.1
    assert all(h["score"] >= 0.05 for h in hits)  # the floor; the order is the fused rank


def test_k_limits_the_results_and_is_validated(user_api: APIClient, corpus: dict[str, int]) -> None:
    assert len(search(user_api, "pizza delivery refunds hours allergens", k=2)) == 2
    bad_queries: list[dict[str, str]] = [
        {"q": "x", "k": "0"},
        {"q": "x", "k": "51"},
        {"q": "x", "k": "many"},
        {"q": ""},
        {"k": "3"},
    ]
    for bad in bad_queries:
        response = user_api.get("/api/search/", bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid"


def test_nothing_indexed_yet_finds_nothing(user_api: APIClient) -> None:
    assert search(user_api, "anything") == []


def test_a_user_never_finds_another_users_private_documents(
    user_api: APIClient, make_user: Callable[..., User], corpus: dict[str, int]
) -> None:
    bob = client_for(make_user("bob"))
    secret = upload(bob, "secret.txt", "Bob's secret sauce: smoked paprika and anchovies.")

    mine = search(user_api, "secret sauce smoked paprika anchovies", k=50)
    bobs = search(bob, "secret sauce smoked paprika anchovies", k=50)

    assert secret.json()["id"] not in {h["document"] for h in mine}
    assert all(h["document"] in corpus.values() for h in mine)
    assert bobs[0]["document"] == secret.json()["id"]


def test_staff_private_documents_stay_private_too(
    user_api: APIClient, staff_api: APIClient
) -> None:
    upload(staff_api, "payroll.txt", "Payroll: the chef earns a secret amount.")

    assert search(user_api, "payroll chef secret amount") == []
    assert len(search(staff_api, "payroll chef secret amount")) == 1


def test_deleting_a_document_removes_its_chunks_and_vectors(user_api: APIClient) -> None:
    keep = upload(user_api, "keep.txt", "Espresso costs two euros at the counter.").json()
    gone = upload(user_api, "gone.txt", "The truffle special is served on Fridays.").json()
    scope = Document.objects.get(pk=gone["id"]).scope
    before = _scope_size(scope)

    response = user_api.delete(f"/api/documents/{gone['id']}/")

    assert response.status_code == 204
    assert not Chunk.objects.filter(document_id=gone["id"]).exists()
    assert _scope_size(scope) == before - gone["chunk_count"]
    assert search(user_api, "truffle special fridays") == []
    assert search(user_api, "espresso counter")[0]["document"] == keep["id"]
    index.reset_cache()  # a fresh process reads the file: the vectors are gone there too
    assert _scope_size(scope) == before - gone["chunk_count"]


def test_only_staff_delete_shared_documents(
    user_api: APIClient, staff_api: APIClient, corpus: dict[str, int]
) -> None:
    doc = corpus["hours.txt"]

    assert user_api.delete(f"/api/documents/{doc}/").status_code == 403
    assert staff_api.delete(f"/api/documents/{doc}/").status_code == 204
    assert doc not in {h["document"] for h in search(user_api, "opening hours", k=50)}


def test_rebuild_gives_the_same_results(
    user_api: APIClient, corpus: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 3)  # the shared scope gets a snapshot
    upload(user_api, "mine.txt", "I prefer my pizza with extra basil and no tomatoes.")
    queries = ["pizza with basil", "free delivery", "refund cold meal", "gluten free"]
    before = [search(user_api, q, k=4) for q in queries]
    for path in index.index_dir().glob("*.faiss"):
        path.unlink()
    index.reset_cache()

    call_command("rebuild_index", verbosity=0)
    index.reset_cache()

    assert [search(user_api, q, k=4) for q in queries] == before
    assert len(list(index.index_dir().glob(f"{SHARED_SCOPE}.*.faiss"))) == 1


def test_large_scopes_switch_to_hnsw_and_still_delete(
    user_api: APIClient, user: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 5)
    settings.RETRIEVAL_HNSW_THRESHOLD = 5
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 80, 0
    text = " ".join(f"Paragraph {n} talks about topic{n} and nothing else." for n in range(12))
    first = upload(user_api, "long.txt", text).json()
    other = upload(user_api, "other.txt", "Gelato flavours: pistachio and hazelnut.").json()
    scope = user_scope(user.pk)
    loaded = index.loaded(IndexState.objects.get(scope=scope))

    assert loaded.snapshot is not None and loaded.snapshot.kind == "hnsw"
    assert search(user_api, "topic7")[0]["text"].count("topic7") == 1
    assert user_api.delete(f"/api/documents/{first['id']}/").status_code == 204
    assert _scope_size(scope) == other["chunk_count"]
    assert search(user_api, "topic7") == []


def test_the_index_refuses_to_mix_embedders(user_api: APIClient, settings: Any) -> None:
    upload(user_api, "a.txt", "Lasagne is baked every morning.")
    settings.EMBEDDING_DIM = 256  # another vector space

    refused = user_api.get("/api/search/", {"q": "lasagne"})
    failed = upload(user_api, "b.txt", "Ravioli are made by hand.").json()

    assert refused.status_code == 503
    assert refused.json()["code"] == "index_embedder_mismatch"
    assert "rebuild_index" in refused.json()["detail"]
    assert failed["status"] == "failed" and "rebuild_index" in failed["error"]
    assert failed["chunk_count"] == 0

    call_command("rebuild_index", verbosity=0)

    assert search(user_api, "lasagne")[0]["title"] == "a"
    assert upload(user_api, "c.txt", "Gnocchi on Thursdays.").json()["status"] == "ready"


def test_an_unknown_embedder_is_a_clear_503(user_api: APIClient, settings: Any) -> None:
    upload(user_api, "a.txt", "Lasagne is baked every morning.")
    settings.EMBEDDER = "nonsense"

    response = user_api.get("/api/search/", {"q": "lasagne"})

    assert response.status_code == 503
    assert response.json()["code"] == "embedder_not_configured"


def test_a_snapshot_left_over_from_another_database_is_not_trusted(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 1)
    upload(user_api, "old.txt", "Minestrone with borlotti beans.")
    assert search(user_api, "minestrone borlotti")
    assert list(index.index_dir().glob(f"{user_scope(user.pk)}.*.faiss"))  # written
    Document.objects.all().delete()
    IndexState.objects.all().delete()  # as if the database were created anew
    index.reset_cache()

    fresh = upload(user_api, "new.txt", "Polenta with wild mushrooms.").json()

    assert search(user_api, "polenta mushrooms")[0]["document"] == fresh["id"]
    assert search(user_api, "minestrone borlotti") == []


def test_index_health_names_the_embedder_and_catches_a_mismatch(
    user_api: APIClient, settings: Any
) -> None:
    upload(user_api, "a.txt", "Lasagne is baked every morning.")

    assert selectors.index_health() == "ok (hashing, scopes: 1)"
    settings.EMBEDDING_DIM = 256
    with pytest.raises(EmbedderMismatch, match="rebuild_index"):
        selectors.index_health()


def test_hits_are_the_ranked_chunks_that_still_exist_and_the_user_may_see(
    corpus: dict[str, int],
    user: User,
    user_api: APIClient,
    make_user: Callable[..., User],
) -> None:
    bob = make_user("bob")
    upload(user_api, "diet.txt", "My diet: no dairy, lots of olives.")
    upload(client_for(bob), "bob.txt", "Bob's own notes.")
    for owner, conversation, title in ((user, 7, "Paying"), (user, 8, "Later"), (bob, 9, "")):
        services.remember(
            user_id=owner.pk, conversation_id=conversation, question="Vouchers?",
            answer="Paper ones.", conversation_title=title,
        )  # fmt: skip
    chunks = Chunk.objects.order_by("-id")
    ranked = [max(c.pk for c in chunks) + 1] + [c.pk for c in chunks]  # and a deleted one
    query = np.zeros(384, dtype=np.float32)

    def hits(**rule: Any) -> list[tuple[str, str]]:
        scopes = [SHARED_SCOPE, user_scope(user.pk)]
        visible = selectors._visible(user, scopes=scopes, **rule)
        found = selectors._hydrate(ranked, visible, query)
        return [(found[c].kind, found[c].title) for c in ranked if c in found]

    shared = [("document", Path(name).stem) for name in reversed(CORPUS)]
    both = ("document", "memory")
    assert hits(kinds=both, exclude_conversation=7) == [
        ("memory", "Later"), ("document", "diet"), *shared,
    ]  # fmt: skip
    assert hits(kinds=both, exclude_conversation=None) == [
        ("memory", "Later"), ("memory", "Paying"), ("document", "diet"), *shared,
    ]  # fmt: skip
    assert hits(kinds=("document",), exclude_conversation=None) == [("document", "diet"), *shared]
