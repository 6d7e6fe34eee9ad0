"""Documents, their chunks (text + embedding, the source of truth for the index) and the
per-scope index state that tells processes when their loaded index is stale."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

SHARED_SCOPE = "shared"


def user_scope(user_id: int) -> str:
    """The index scope holding one user's private documents and past exchanges."""
    return f"user-{user_id}"


class Document(models.Model):
    """An uploaded file's extracted text. Private to its owner unless staff shared it."""

    class Kind(models.TextChoices):
        PDF = "pdf"
        DOCX = "docx"
        TXT = "txt"
        MD = "md"

    class Status(models.TextChoices):
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    size = models.PositiveBigIntegerField(help_text="Bytes uploaded.")
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROCESSING)
    error = models.TextField(blank=True, default="")
    shared = models.BooleanField(default=False, help_text="Part of the shop-wide knowledge base.")
    text = models.TextField(help_text="The extracted text that is chunked and embedded.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["owner", "sha256"], name="document_owner_sha256"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["shared", "status"], name="document_shared_status"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def scope(self) -> str:
        return SHARED_SCOPE if self.shared else user_scope(self.owner_id)


class Chunk(models.Model):
    """A piece of a document, or one remembered chat exchange, with its embedding.

    `vector` holds the float32 bytes of the embedding, so rebuilding an index never calls the
    embedder again. `scope` names the index the chunk lives in (`shared` or `user-<id>`);
    it follows from `shared` and `owner` and is stored so a scope loads with one indexed query.
    """

    class Kind(models.TextChoices):
        DOCUMENT = "document"
        MEMORY = "memory"

    document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.CASCADE, related_name="chunks"
    )
    # Indexed by chunk_owner_memory, whose first column it is.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    shared = models.BooleanField(default=False)
    scope = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DOCUMENT)
    # A plain id, not a foreign key: retrieval sits below chat and never imports it.
    conversation_id = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(
        max_length=200, blank=True, default="", help_text="A memory's conversation title."
    )
    ordinal = models.PositiveIntegerField(default=0)
    text = models.TextField()
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        indexes: ClassVar = [
            models.Index(fields=["scope", "id"], name="chunk_scope"),
            models.Index(fields=["owner", "kind", "conversation_id"], name="chunk_owner_memory"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} chunk {self.pk} in {self.scope}"


class IndexState(models.Model):
    """What an index scope holds, moved in the same transaction as its chunks.

    Writers lock the row before inserting chunks, so a scope's chunk ids commit in order and a
    process whose index reaches chunk `high` is current after reading the rows above its own.
    """

    scope = models.CharField(max_length=40, unique=True)
    embedder = models.CharField(max_length=120)
    dim = models.PositiveIntegerField()
    stamp = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="The vectors' generation: random, new whenever they are embedded again, so "
        "no snapshot of other vectors passes for current.",
    )
    high = models.BigIntegerField(default=0, help_text="The highest chunk id in the scope.")
    removed = models.PositiveBigIntegerField(
        default=0, help_text="Chunks ever deleted from the scope (snapshots keep their ids)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.scope} up to chunk {self.high} ({self.embedder}, {self.dim} dims)"
