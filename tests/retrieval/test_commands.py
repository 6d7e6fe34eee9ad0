"""`manage.py ingest` (bulk loading folders) and `manage.py rebuild_index`."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from retrieval import selectors
from retrieval.models import SHARED_SCOPE, Chunk, Document, IndexState
from tests.retrieval.files import make_docx, make_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "menus" / "winter").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "hours.txt").write_text("Opening hours: noon until midnight.")
    (root / "faq.md").write_text("# FAQ\n\nWe deliver **pizza** by bike.")
    (root / "menus" / "menu.pdf").write_bytes(make_pdf("Margherita nine euros."))
    (root / "menus" / "winter" / "soups.docx").write_bytes(make_docx("Minestrone in winter."))
    (root / "menus" / "broken.pdf").write_bytes(b"not a pdf at all")
    (root / ".git" / "config").write_text("[core] hidden files are skipped")
    return root


def _ingest(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_ingest_loads_a_folder_recursively_into_the_shared_knowledge_base(
    folder: Path, make_user: Callable[..., User]
) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    reader = make_user("reader")

    out, err = _ingest(str(folder), "--shared")

    assert "Ingested 5 file(s): 4 created, 0 already there, 1 failed." in out
    assert "broken.pdf" in err and "not a PDF" in err
    assert set(Document.objects.values_list("title", "shared", "owner_id")) == {
        ("hours", True, admin.pk),
        ("faq", True, admin.pk),
        ("menu", True, admin.pk),
        ("soups", True, admin.pk),
    }
    assert selectors.search(user=reader, query="minestrone winter", k=1)[0].title == "soups"
    assert IndexState.objects.get(scope=SHARED_SCOPE).high == Chunk.objects.latest("id").pk

    again, _ = _ingest(str(folder), "--shared")

    assert "0 created, 4 already there, 1 failed" in again


def test_ingest_for_a_named_owner_is_private(folder: Path, make_user: Callable[..., User]) -> None:
    owner = make_user("carla")

    _ingest(str(folder / "hours.txt"), "--owner", "carla")

    assert Document.objects.get().owner == owner
    assert Document.objects.get().shared is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner", "nobody"], "No user named 'nobody'"),
        ([], "There is no superuser"),
    ],
)
def test_ingest_explains_what_is_wrong(folder: Path, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _ingest(str(folder), *args)


def test_ingest_refuses_missing_paths(make_user: Callable[..., User], tmp_path: Path) -> None:
    make_user("root", is_superuser=True)

    with pytest.raises(CommandError, match="does not exist"):
        _ingest(str(tmp_path / "nope"))


def test_rebuild_index_reports_every_scope(folder: Path, make_user: Callable[..., User]) -> None:
    make_user("root", is_staff=True, is_superuser=True)
    _ingest(str(folder), "--shared")
    out = io.StringIO()

    call_command("rebuild_index", stdout=out, stderr=io.StringIO())

    assert "shared: 4 vectors (in memory)" in out.getvalue()
    assert "Rebuilt 1 index scope(s)." in out.getvalue()
