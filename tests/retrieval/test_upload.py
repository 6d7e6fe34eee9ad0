"""Uploading documents: every supported type, every way a file can be refused, duplicates,
sharing rules, listing and reading."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from retrieval.models import Chunk, Document
from tests.conftest import client_for
from tests.retrieval.conftest import search, upload
from tests.retrieval.files import make_docx, make_docx_bomb, make_encrypted_pdf, make_pdf

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "data", "kind", "phrase"),
    [
        ("menu.pdf", make_pdf("Margherita pizza costs nine euros.", "Open daily"), "pdf", "nine"),
        (
            "policy.docx",
            make_docx("Refunds within thirty days.", "Keep the receipt."),
            "docx",
            "thirty days",
        ),
        ("notes.txt", "Delivery is free above twenty euros.", "txt", "twenty euros"),
        ("faq.md", "# FAQ\n\n## Hours\n\nWe open at **noon**.", "md", "noon"),
    ],
)
def test_each_file_type_is_extracted_indexed_and_searchable(
    user_api: APIClient, name: str, data: bytes | str, kind: str, phrase: str
) -> None:
    response = upload(user_api, name, data)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == kind
    assert body["status"] == "ready"
    assert body["mine"] is True and body["shared"] is False
    assert body["chunk_count"] >= 1
    assert body["title"] == name.rsplit(".", 1)[0]
    hits = search(user_api, phrase)
    assert hits and hits[0]["document"] == body["id"]
    assert phrase.split()[0] in hits[0]["text"]


def test_the_type_comes_from_the_content_not_the_name(user_api: APIClient) -> None:
    response = upload(user_api, "scan.txt", make_pdf("Actually a PDF about espresso."))

    assert response.status_code == 201
    assert response.json()["kind"] == "pdf"


def test_markdown_is_recognised_without_an_extension(user_api: APIClient) -> None:
    response = upload(user_api, "README", "# Shop\n\n- pizza\n- pasta\n\nSee [menu](x).")

    assert response.json()["kind"] == "md"


def test_a_word_table_is_part_of_the_text(user_api: APIClient) -> None:
    data = make_docx("Prices", table=[["Calzone", "11 euros"], ["Tiramisu", "6 euros"]])

    document = upload(user_api, "prices.docx", data).json()

    assert "Tiramisu | 6 euros" in Document.objects.get(pk=document["id"]).text


def _assert_refused(response: Any, status: int, code: str, words: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert words in body["detail"]
    assert not Document.objects.exists()
    assert not Chunk.objects.exists()


def test_a_file_over_the_limit_is_413(user_api: APIClient, settings: Any) -> None:
    settings.MAX_UPLOAD_BYTES = 1000

    response = upload(user_api, "big.txt", "word " * 300)

    _assert_refused(response, 413, "too_large", "limit is 1000 bytes")


def test_a_huge_body_is_413_before_it_is_read(user_api: APIClient, settings: Any) -> None:
    settings.MAX_UPLOAD_BYTES = 1000

    response = upload(user_api, "huge.txt", "word " * 40_000)

    _assert_refused(response, 413, "too_large", "limit of 1000 bytes")


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b" \n\t\n", "empty"),
        ("locked.pdf", make_encrypted_pdf("The secret menu"), "password"),
        ("scan.pdf", make_pdf(""), "no text"),
        ("broken.pdf", b"%PDF-1.7\n" + os.urandom(300), "damaged"),
        ("random.pdf", os.urandom(2000).replace(b"%PDF-", b"") + b"x", "not a PDF"),
        ("fake.docx", b"just some words", "not a DOCX"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "Unsupported"),
        ("latin1.txt", "Caf\xe9 cr\xe8me".encode("latin-1"), "another encoding"),
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "legacy Word"),
        (
            "archive.docx",
            make_docx_bomb(inflated_bytes=10).replace(b"word/", b"xord/"),
            "not a Word document",
        ),
    ],
)
def test_unusable_files_are_400_with_a_reason_and_store_nothing(
    user_api: APIClient, name: str, data: bytes, words: str
) -> None:
    response = upload(user_api, name, data)

    _assert_refused(response, 400, "unreadable_document", words)


def test_a_docx_that_inflates_absurdly_is_refused_before_unpacking(
    user_api: APIClient, settings: Any
) -> None:
    settings.MAX_DOCX_UNPACKED_BYTES = 2_000_000

    response = upload(user_api, "bomb.docx", make_docx_bomb(inflated_bytes=3_000_000))

    _assert_refused(response, 400, "unreadable_document", "more than the limit of 2000000")


def test_a_docx_member_with_a_bomb_compression_ratio_is_refused(user_api: APIClient) -> None:
    response = upload(user_api, "ratio.docx", make_docx_bomb(inflated_bytes=2_000_000))

    _assert_refused(response, 400, "unreadable_document", "inflates")


def test_no_file_is_a_field_error(user_api: APIClient) -> None:
    response = user_api.post("/api/documents/", {"title": "x"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_the_same_file_twice_is_recognised_and_not_indexed_twice(user_api: APIClient) -> None:
    first = upload(user_api, "notes.txt", "Our pizza oven reaches 450 degrees.")
    second = upload(user_api, "copy-of-notes.txt", "Our pizza oven reaches 450 degrees.")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Document.objects.count() == 1
    assert Chunk.objects.count() == first.json()["chunk_count"]
    assert len(search(user_api, "pizza oven degrees")) == 1


def test_two_users_may_upload_the_same_file(
    user_api: APIClient, make_user: Callable[..., User]
) -> None:
    upload(user_api, "notes.txt", "Same bytes")

    response = upload(client_for(make_user("bob")), "notes.txt", "Same bytes")

    assert response.status_code == 201


def test_only_staff_may_share(user_api: APIClient, staff_api: APIClient) -> None:
    refused = upload(user_api, "kb.txt", "Shop-wide answer", shared="true")
    shared = upload(staff_api, "kb.txt", "Shop-wide answer", shared="true")

    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert shared.status_code == 201
    assert shared.json()["shared"] is True


def test_everyone_lists_their_own_and_the_shared_documents(
    user_api: APIClient, staff_api: APIClient, make_user: Callable[..., User]
) -> None:
    shared = upload(staff_api, "kb.txt", "Opening hours: noon to midnight.", shared="true").json()
    mine = upload(user_api, "mine.txt", "My private shopping list.").json()
    upload(client_for(make_user("bob")), "bobs.txt", "Bob's private notes.")

    body = user_api.get("/api/documents/").json()

    assert body["count"] == 2
    assert {(d["id"], d["mine"]) for d in body["results"]} == {
        (mine["id"], True),
        (shared["id"], False),
    }
    assert "text" not in body["results"][0]


def test_others_private_documents_are_404(
    user_api: APIClient, make_user: Callable[..., User]
) -> None:
    theirs = upload(client_for(make_user("bob")), "bobs.txt", "Bob's private notes.").json()

    assert user_api.get(f"/api/documents/{theirs['id']}/").status_code == 404
    assert user_api.delete(f"/api/documents/{theirs['id']}/").status_code == 404
    assert Document.objects.filter(pk=theirs["id"]).exists()


def test_a_document_reads_back_as_uploaded_with_its_title_tidied(user_api: APIClient) -> None:
    created = upload(user_api, "mine.txt", "Words", title="  My   list ").json()

    body = user_api.get(f"/api/documents/{created['id']}/").json()

    assert body == {**created, "title": "My list"}
    assert created["title"] == "My list"


def test_anonymous_callers_are_401(api: APIClient) -> None:
    assert api.get("/api/documents/").status_code == 401
    assert api.get("/api/search/", {"q": "x"}).status_code == 401
