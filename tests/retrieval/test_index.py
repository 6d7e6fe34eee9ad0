"""The index as a cache of the database: catching up by chunk id, snapshots shared through
memory maps, folds, removals and generations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from retrieval import index, services
from retrieval.models import Chunk, IndexState, user_scope
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db

MENU = [
    "Margherita with basil and mozzarella.",
    "Calzone folded over ricotta and salami.",
    "Minestrone with borlotti beans.",
    "Tiramisu made with mascarpone every morning.",
    "Arancini are fried rice balls with ragù.",
    "Focaccia with rosemary and sea salt.",
]


def _state(user: User) -> IndexState:
    return IndexState.objects.get(scope=user_scope(user.pk))


def _snapshots(user: User) -> list[Path]:
    return sorted(index.index_dir().glob(f"{user_scope(user.pk)}.*.faiss"))


def _upload_menu(api: APIClient, items: list[str]) -> list[int]:
    return [upload(api, f"item{n}-{hash(t)}.txt", t).json()["id"] for n, t in enumerate(items)]


def test_a_search_catches_up_by_reading_only_the_rows_above_what_it_holds(
    user_api: APIClient, user: User
) -> None:
    _upload_menu(user_api, MENU[:2])
    before = index.loaded(_state(user))
    services.remember(
        user_id=user.pk, conversation_id=1, question="Is the focaccia vegan?", answer="Yes."
    )

    with CaptureQueriesContext(connection) as queries:
        after = index.loaded(_state(user))

    assert after.ntotal == before.ntotal + 1
    assert after.high == Chunk.objects.latest("id").pk
    (read,) = [q["sql"] for q in queries.captured_queries if "vector" in q["sql"]]
    assert str(before.high) in read  # only the rows above the old high-water mark


def test_a_large_scope_is_snapshotted_once_and_opened_memory_mapped_by_another_process(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 3)
    _upload_menu(user_api, MENU[:3])
    first = index.loaded(_state(user))
    (path,) = _snapshots(user)
    written = path.stat().st_ino
    _upload_menu(user_api, MENU[3:4])
    index.reset_cache()  # as a fresh worker of the same machine

    opened = index.loaded(_state(user))

    assert first.snapshot is not None and opened.snapshot is not None
    assert _snapshots(user) == [path] and path.stat().st_ino == written  # not written again
    assert (opened.snapshot.ntotal, len(opened.tail_ids)) == (3, 1)  # the newer row in memory
    maps = Path("/proc/self/maps").read_text()
    assert str(path) in maps  # read through the page cache, shared with the other workers
    assert search(user_api, "tiramisu mascarpone")[0]["text"] == MENU[3]


def test_a_tail_that_reaches_the_fold_size_becomes_a_new_snapshot(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 2)
    _upload_menu(user_api, MENU[:2])
    index.loaded(_state(user))
    (old,) = _snapshots(user)
    _upload_menu(user_api, MENU[2:4])

    folded = index.loaded(_state(user))

    assert folded.snapshot is not None and folded.snapshot.ntotal == 4
    assert len(folded.tail_ids) == 0
    assert not old.exists() and len(_snapshots(user)) == 1  # the old one went
    assert search(user_api, "borlotti beans")[0]["text"] == MENU[2]


def test_removed_chunks_are_never_found_and_a_scope_that_lost_many_is_rebuilt(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 3)
    documents = _upload_menu(user_api, MENU[:5])
    assert index.loaded(_state(user)).snapshot.ntotal == 5  # type: ignore[union-attr]

    user_api.delete(f"/api/documents/{documents[2]}/")
    user_api.delete(f"/api/documents/{documents[3]}/")

    found = {hit["document"] for hit in search(user_api, "minestrone or margherita", k=10)}
    assert documents[2] not in found and documents[0] in found
    rebuilt = index.loaded(_state(user))
    assert rebuilt.snapshot is not None and rebuilt.snapshot.ntotal == 3  # tombstones gone
    assert _state(user).removed == 2


def test_a_damaged_snapshot_is_rebuilt_from_the_database(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 1)
    _upload_menu(user_api, MENU[:2])
    index.loaded(_state(user))
    (path,) = _snapshots(user)
    path.write_bytes(b"garbage")
    index.reset_cache()

    assert search(user_api, "calzone ricotta")[0]["text"] == MENU[1]
    (again,) = _snapshots(user)
    assert again.read_bytes() != b"garbage"


def test_embedding_again_starts_a_new_generation_that_old_snapshots_do_not_pass_for(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 1)
    _upload_menu(user_api, MENU[:2])
    index.loaded(_state(user))
    stamp = _state(user).stamp

    call_command("rebuild_index", "--reembed", verbosity=0)

    assert _state(user).stamp != stamp
    (path,) = _snapshots(user)
    assert _state(user).stamp in path.name
    assert search(user_api, "calzone ricotta")[0]["text"] == MENU[1]


@pytest.mark.django_db(transaction=True)
def test_a_fold_runs_on_its_own_thread_and_the_scope_reopens_on_it(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 2)
    monkeypatch.setattr(index, "FOLD_IN_BACKGROUND", True)
    _upload_menu(user_api, MENU[:1])
    index.loaded(_state(user))
    _upload_menu(user_api, MENU[1:3])

    served = index.loaded(_state(user))  # answers at once, from the rows in memory
    index._folds.submit(lambda: None).result(timeout=30)  # the fold thread is done

    assert served.snapshot is None and len(served.tail_ids) == 3
    folded = index.loaded(_state(user))
    assert folded.snapshot is not None and folded.snapshot.ntotal == 3
    assert len(_snapshots(user)) == 1


def test_a_large_scope_is_searched_from_memory_when_its_snapshot_cannot_be_written(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr(index, "FOLD_AT", 2)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    (settings.DATA_DIR / "index").write_text("not a folder")  # the disk refuses the snapshot
    _upload_menu(user_api, MENU[:3])

    scope_index = index.loaded(_state(user))

    assert scope_index.snapshot is None and len(scope_index.tail_ids) == 3
    assert search(user_api, "calzone ricotta")[0]["text"] == MENU[1]
