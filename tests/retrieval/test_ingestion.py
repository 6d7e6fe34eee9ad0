"""Indexing as a background task: processing → ready, or failed leaving nothing behind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from rest_framework.test import APIClient

from accounts.models import User
from providers.exceptions import ProviderUnavailable
from retrieval import embedders, index, tasks
from retrieval.models import Chunk, Document, IndexState, user_scope
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db

DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


class DownEmbedder:
    name = "hashing"
    dim = 384

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise ProviderUnavailable("The embedding service is down.", provider="openai")


def test_with_a_queue_the_document_is_processing_until_a_worker_runs_the_task(
    user_api: APIClient, settings: Any
) -> None:
    settings.TASKS = DUMMY
    created = upload(user_api, "notes.txt", "Pesto is made with basil and pine nuts.").json()

    assert created["status"] == "processing"
    assert search(user_api, "pesto basil") == []

    assert tasks.ingest_document.call(created["id"]) == "ready"  # what the worker does

    assert user_api.get(f"/api/documents/{created['id']}/").json()["status"] == "ready"
    assert search(user_api, "pesto basil")[0]["document"] == created["id"]
    assert tasks.ingest_document.call(created["id"]) == "ready"  # a retry does nothing
    assert Chunk.objects.filter(document_id=created["id"]).count() == 1


def test_a_failed_embedding_leaves_no_chunks_and_no_vectors(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(user_api, "first.txt", "Arancini are fried rice balls.")
    high = IndexState.objects.get(scope=user_scope(user.pk)).high
    monkeypatch.setattr(embedders, "current", DownEmbedder)

    failed = upload(user_api, "second.txt", "Cannoli are filled with ricotta.").json()

    assert failed["status"] == "failed"
    assert failed["error"] == "The embedding service is down."
    assert failed["chunk_count"] == 0
    assert IndexState.objects.get(scope=user_scope(user.pk)).high == high
    assert index.loaded(IndexState.objects.get(scope=user_scope(user.pk))).ntotal == 1


def test_a_failure_while_writing_rolls_everything_back(
    user_api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Chunk.objects, "bulk_create", broken)

    failed = upload(user_api, "notes.txt", "Cannoli are filled with ricotta.").json()

    assert failed["status"] == "failed"
    assert "internal error" in failed["error"]
    assert not Chunk.objects.exists()
    assert not IndexState.objects.filter(scope=user_scope(user.pk)).exists()


def test_uploading_a_failed_document_again_retries_it(
    user_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(embedders, "current", DownEmbedder)
        failed = upload(user_api, "notes.txt", "Cannoli are filled with ricotta.").json()

    again = upload(user_api, "notes.txt", "Cannoli are filled with ricotta.")

    assert again.status_code == 200
    assert again.json()["id"] == failed["id"]
    assert again.json()["status"] == "ready"
    assert search(user_api, "cannoli ricotta")[0]["document"] == failed["id"]


def test_a_document_deleted_before_its_task_ran_is_skipped(
    user_api: APIClient, settings: Any
) -> None:
    settings.TASKS = DUMMY
    created = upload(user_api, "notes.txt", "Short-lived.").json()
    user_api.delete(f"/api/documents/{created['id']}/")

    assert tasks.ingest_document.call(created["id"]) == "deleted"
    assert not Document.objects.exists() and not Chunk.objects.exists()
