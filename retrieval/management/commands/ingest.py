"""`manage.py ingest PATH…`: bulk-load files and folders (recursively), with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from providers.exceptions import ProviderError
from retrieval import services
from retrieval.exceptions import RetrievalError
from retrieval.models import Document


class Command(BaseCommand):
    help = (
        "Upload documents (PDF, DOCX, TXT, Markdown) from files and folders, recursively. "
        "Files already uploaded by the same owner are recognised and skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Files or folders.")
        parser.add_argument(
            "--shared",
            action="store_true",
            help="Add them to the shared knowledge base (the owner must be staff).",
        )
        parser.add_argument("--owner", help="Username of the owner (default: the first superuser).")

    def handle(self, *args: Any, paths: list[Path], shared: bool, **options: Any) -> None:
        owner = _owner(options["owner"])
        files = _files(paths)
        if not files:
            raise CommandError("No files found under the given paths.")
        counts = {"created": 0, "already there": 0, "failed": 0}
        with tqdm(files, unit="file", disable=options["verbosity"] < 1, file=self.stderr) as bar:
            for path in bar:
                outcome = self._ingest(path, owner=owner, shared=shared)
                counts[outcome] += 1
        summary = ", ".join(f"{n} {what}" for what, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Ingested {len(files)} file(s): {summary}."))

    def _ingest(self, path: Path, *, owner: AbstractBaseUser, shared: bool) -> str:
        try:
            document, created = services.document_upload(
                owner=owner, data=path.read_bytes(), filename=path.name, shared=shared
            )
        except (RetrievalError, ProviderError, OSError) as exc:
            tqdm.write(f"{path}: {exc}", file=self.stderr)
            return "failed"
        if document.status == Document.Status.FAILED:
            tqdm.write(f"{path}: {document.error}", file=self.stderr)
            return "failed"
        return "created" if created else "already there"


def _owner(username: str | None) -> AbstractBaseUser:
    users = get_user_model().objects
    if username:
        owner = users.filter(username=username).first()
        if owner is None:
            raise CommandError(f"No user named {username!r}.")
        return owner
    owner = users.filter(is_superuser=True).order_by("id").first()
    if owner is None:
        raise CommandError("There is no superuser: create one or pass --owner USERNAME.")
    return owner


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{path} does not exist.")
    return found
