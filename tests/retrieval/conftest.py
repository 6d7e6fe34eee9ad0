"""Fixtures for retrieval tests: a private data dir per test, a clean index cache, uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from retrieval import index


@pytest.fixture(autouse=True)
def _retrieval_settings(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Each test gets its own index folder and the documented defaults, whatever `.env` says;
    folds run on the test's thread, inside its transaction."""
    monkeypatch.setattr(index, "FOLD_IN_BACKGROUND", False)
    settings.DATA_DIR = tmp_path / "data"
    settings.MAX_UPLOAD_BYTES = 10 * 1024 * 1024
    settings.CHUNK_SIZE = 1000
    settings.CHUNK_OVERLAP = 200
    settings.EMBEDDER = "hashing"
    settings.EMBEDDING_DIM = 384
    settings.RETRIEVAL_TOP_K = 4
    settings.RETRIEVAL_MIN_SCORE = 0.05
    settings.RETRIEVAL_HNSW_THRESHOLD = 20_000
    settings.RETRIEVAL_HNSW_EF_SEARCH = 256
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    index.reset_cache()
    yield
    index.reset_cache()


def upload(client: APIClient, name: str, data: bytes | str, **fields: Any) -> Any:
    """POST a file to /api/documents/ as multipart, the way a browser or curl would."""
    content = data.encode() if isinstance(data, str) else data
    body = {"file": SimpleUploadedFile(name, content), **fields}
    return client.post("/api/documents/", body, format="multipart")


def search(client: APIClient, q: str, k: int = 5) -> list[dict[str, Any]]:
    response = client.get("/api/search/", {"q": q, "k": str(k)})
    assert response.status_code == 200, response.content
    return list(response.json()["results"])
