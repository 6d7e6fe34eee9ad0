"""Documents and index state in the Django admin; deleting goes through the service, so the
vectors go too. Uploads happen through the API or `manage.py ingest`."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin
from retrieval import services
from retrieval.models import Document, IndexState


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "kind", "status", "shared", "size", "created_at")
    list_filter = ("status", "kind", "shared")
    search_fields = ("title", "owner__username", "sha256")
    list_select_related = ("owner",)
    exclude = ("text",)
    readonly_fields = (
        "owner",
        "title",
        "kind",
        "size",
        "sha256",
        "status",
        "error",
        "shared",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj, by=_staff(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            services.document_delete(document=document, by=_staff(request))


@admin.register(IndexState)
class IndexStateAdmin(ReadOnlyAdmin):
    """Read-only: the states move with the chunks, never by hand."""

    list_display = ("scope", "embedder", "dim", "high", "removed", "updated_at")
    search_fields = ("scope",)


def _staff(request: HttpRequest) -> AbstractBaseUser:
    return request.user  # type: ignore[return-value]  # the admin only lets staff in
