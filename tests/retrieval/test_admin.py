"""The Django admin shows documents and deletes them through the service, vectors included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from retrieval.models import Chunk, Document
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db


def test_admin_lists_and_deletes_documents_with_their_vectors(
    make_user: Callable[..., User], user_api: APIClient
) -> None:
    document = upload(user_api, "notes.txt", "Saffron risotto on Wednesdays.").json()
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))

    listing = browser.get("/admin/retrieval/document/")
    page = browser.get(f"/admin/retrieval/document/{document['id']}/change/")
    deleted = browser.post(f"/admin/retrieval/document/{document['id']}/delete/", {"post": "yes"})

    assert listing.status_code == 200 and b"notes" in listing.content
    assert page.status_code == 200
    assert deleted.status_code == 302
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert search(user_api, "saffron risotto") == []
    assert browser.get("/admin/retrieval/indexstate/").status_code == 200
