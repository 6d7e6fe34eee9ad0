"""`manage.py rebuild_index`: rebuild every scope's index snapshot from the database (embedding
the chunks again first where asked or needed), with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from retrieval import services
from retrieval.models import Chunk


class Command(BaseCommand):
    help = (
        "Rebuild the FAISS index snapshot of every scope from the chunks stored in the database. "
        "Scopes embedded with another EMBEDDER (or all, with --reembed) are embedded again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reembed", action="store_true", help="Embed every chunk again, not only stale ones."
        )

    def handle(self, *args: Any, reembed: bool, **options: Any) -> None:
        total = Chunk.objects.count()
        with tqdm(
            total=total, unit="chunk", disable=options["verbosity"] < 1, file=self.stderr
        ) as bar:
            rebuilt = services.rebuild_indexes(reembed=reembed, progress=bar.update)
        for scope in rebuilt:
            note = ", re-embedded" if scope.reembedded else ""
            self.stdout.write(f"{scope.scope}: {scope.vectors} vectors ({scope.kind}{note})")
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {len(rebuilt)} index scope(s)."))
