"""Request and response shapes of the retrieval API."""

from __future__ import annotations

from rest_framework import serializers

from retrieval.models import Document
from retrieval.selectors import Hit


class DocumentUploadInput(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # an empty file gets the service's clearer reason
        help_text="A PDF, a Word document (.docx), UTF-8 text or Markdown.",
    )
    title = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        help_text="Defaults to the file name.",
    )
    shared = serializers.BooleanField(
        default=False, help_text="Staff only: add it to the shop-wide knowledge base."
    )


class DocumentOutput(serializers.ModelSerializer):
    mine = serializers.SerializerMethodField(help_text="Whether you uploaded it.")
    chunk_count = serializers.SerializerMethodField(help_text="Indexed chunks.")

    class Meta:
        model = Document
        fields = (
            "id",
            "title",
            "kind",
            "size",
            "sha256",
            "status",
            "error",
            "shared",
            "mine",
            "chunk_count",
            "created_at",
        )
        read_only_fields = fields

    def get_mine(self, document: Document) -> bool:
        user = self.context.get("user")
        return user is not None and document.owner_id == user.pk

    def get_chunk_count(self, document: Document) -> int:
        counted = getattr(document, "chunk_count", None)
        return counted if counted is not None else document.chunks.count()


class SearchInput(serializers.Serializer):
    q = serializers.CharField(max_length=2000, help_text="What to look for.")
    k = serializers.IntegerField(
        min_value=1, max_value=50, default=5, help_text="How many chunks to return (1–50)."
    )


class SearchHitOutput(serializers.Serializer):
    document = serializers.IntegerField(source="document_id")
    title = serializers.CharField()
    chunk = serializers.IntegerField(source="chunk_id")
    ordinal = serializers.IntegerField(help_text="The chunk's position in its document.")
    text = serializers.CharField()
    score = serializers.SerializerMethodField(
        help_text="Cosine similarity to the query, -1 to 1. Hits come in the order of the fused "
        "vector and full-text rankings, not necessarily by score."
    )

    def get_score(self, hit: Hit) -> float:
        return round(hit.score, 4)


class SearchOutput(serializers.Serializer):
    query = serializers.CharField()
    k = serializers.IntegerField()
    results = SearchHitOutput(many=True)
