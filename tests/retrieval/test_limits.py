"""What one upload may unpack to, how much each user may keep, and how often they may upload
and search: every refusal a 4xx with a code, and nothing of the refused upload stored."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from retrieval.models import Chunk, Document
from tests.conftest import client_for
from tests.retrieval.conftest import upload
from tests.retrieval.files import (
    make_docx,
    make_docx_padded,
    make_docx_with_a_lying_directory,
    make_pdf,
)

pytestmark = pytest.mark.django_db


def assert_refused(response: Any, status: int, code: str, words: str, *, kept: int = 0) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert words in body["detail"]
    assert Document.objects.count() == kept  # no row for the refused file
    assert not Chunk.objects.exclude(document__in=Document.objects.all()).exists()  # no vectors


# --- What one upload may unpack to ------------------------------------------------------------


def test_text_over_the_character_limit_is_413(user_api: APIClient, settings: Any):
    settings.MAX_EXTRACTED_CHARS = 1000

    response = upload(user_api, "long.txt", "word " * 400)

    assert_refused(response, 413, "too_large", "more than 1000 characters")


def test_a_pdf_over_the_page_limit_is_413(user_api: APIClient, settings: Any):
    settings.MAX_PDF_PAGES = 3

    response = upload(user_api, "book.pdf", make_pdf("one", "two", "three", "four"))

    assert_refused(response, 413, "too_large", "4 pages; the limit is 3")


def test_a_pdf_whose_pages_hold_too_much_text_is_413(user_api: APIClient, settings: Any):
    settings.MAX_EXTRACTED_CHARS = 100

    response = upload(user_api, "dense.pdf", make_pdf("x" * 80, "y" * 80))

    assert_refused(response, 413, "too_large", "more than 100 characters")


def test_text_at_the_limits_is_accepted(user_api: APIClient, settings: Any):
    settings.MAX_EXTRACTED_CHARS = 2000
    settings.MAX_PDF_PAGES = 2

    assert upload(user_api, "ok.txt", "w" * 2000).status_code == 201
    assert upload(user_api, "ok.pdf", make_pdf("one", "two")).status_code == 201


def test_a_docx_unpacking_to_about_200_mb_at_an_innocent_ratio_is_refused(user_api: APIClient):
    data = make_docx_padded(unpacked_bytes=199_000_000)  # under 20x the upload limit
    ratios = [m.file_size / m.compress_size for m in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert len(data) < 2_000_000 and max(ratios) < 200  # no per-member ratio gives it away

    response = upload(user_api, "padded.docx", data)

    assert_refused(response, 400, "unreadable_document", "more than the limit of 33554432")


def test_a_docx_under_the_unpacked_limit_is_accepted(user_api: APIClient, settings: Any):
    settings.MAX_DOCX_UNPACKED_BYTES = 4 * 1024 * 1024

    response = upload(user_api, "fine.docx", make_docx_padded(unpacked_bytes=3 * 1024 * 1024))

    assert response.status_code == 201, response.content


def test_a_docx_whose_directory_understates_a_part_is_refused(user_api: APIClient):
    data = make_docx_with_a_lying_directory(actual_bytes=3_000_000, declared_bytes=1000)

    response = upload(user_api, "liar.docx", data)

    assert_refused(response, 400, "unreadable_document", "damaged")


# --- How much each user may keep ---------------------------------------------------------------


def test_the_document_quota_refuses_one_more_and_a_deletion_makes_room(
    user_api: APIClient, settings: Any
):
    settings.DOCUMENT_QUOTA_DOCUMENTS = 2
    first = upload(user_api, "a.txt", "Alpha document.").json()
    upload(user_api, "b.txt", "Beta document.")

    response = upload(user_api, "c.txt", "Gamma document.")

    assert_refused(response, 403, "document_quota_exceeded", "2 documents", kept=2)
    assert upload(user_api, "a.txt", "Alpha document.").status_code == 200  # the same: no room
    user_api.delete(f"/api/documents/{first['id']}/")
    assert upload(user_api, "c.txt", "Gamma document.").status_code == 201


def test_the_byte_quota_counts_what_is_stored(user_api: APIClient, settings: Any):
    settings.DOCUMENT_QUOTA_BYTES = 100
    assert upload(user_api, "a.txt", "a" * 60).status_code == 201

    response = upload(user_api, "b.txt", "b" * 60)

    assert_refused(response, 403, "document_quota_exceeded", "quota of 100 bytes", kept=1)
    assert upload(user_api, "c.txt", "c" * 40).status_code == 201


def test_each_user_has_their_own_quota(
    user_api: APIClient, make_user: Callable[..., User], settings: Any
):
    settings.DOCUMENT_QUOTA_DOCUMENTS = 1
    upload(user_api, "a.txt", "Alpha document.")

    other = client_for(make_user())

    assert upload(other, "a.txt", "Alpha document.").status_code == 201


def test_shared_documents_do_not_count_against_staffs_quota(staff_api: APIClient, settings: Any):
    settings.DOCUMENT_QUOTA_DOCUMENTS = 1
    settings.DOCUMENT_QUOTA_BYTES = 100

    for n in range(3):
        response = upload(staff_api, f"kb{n}.txt", f"Knowledge {n} " * 20, shared="true")
        assert response.status_code == 201, response.content
    assert upload(staff_api, "mine.txt", "My own note.").status_code == 201
    assert upload(staff_api, "more.txt", "Another note.").status_code == 403


# --- How often ----------------------------------------------------------------------------------


def test_uploads_are_throttled_per_user(
    user_api: APIClient, make_user: Callable[..., User], settings: Any
):
    settings.THROTTLE_UPLOAD = "2/min"
    upload(user_api, "a.txt", "Alpha document.")
    upload(user_api, "b.txt", "Beta document.")

    response = upload(user_api, "c.txt", "Gamma document.")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    assert Document.objects.count() == 2
    assert user_api.get("/api/documents/").status_code == 200  # listing is not an upload
    assert upload(client_for(make_user()), "c.txt", "Gamma document.").status_code == 201


def test_searches_are_throttled_per_user(
    user_api: APIClient, make_user: Callable[..., User], settings: Any
):
    settings.THROTTLE_SEARCH = "2/min"
    statuses = [user_api.get("/api/search/", {"q": "pizza"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = user_api.get("/api/search/", {"q": "pizza"})
    assert "Retry-After" in response
    other = client_for(make_user())
    assert other.get("/api/search/", {"q": "pizza"}).status_code == 200


def test_a_word_document_still_uploads(user_api: APIClient):
    response = upload(user_api, "policy.docx", make_docx("Refunds within thirty days."))

    assert response.status_code == 201
