"""Conversations and the request log in the Django admin, for operators."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from chat.models import Conversation, Message, RequestLog
from core.admin import ReadOnlyAdmin
from providers import registry


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("role", "content", "status", "provider", "model", "tokens_charged", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "user", "created_at", "updated_at")
    search_fields = ("title", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("user", "created_at", "updated_at")
    inlines = (MessageInline,)


class ProviderFilter(admin.SimpleListFilter):
    """The configured providers; the default filter would SELECT DISTINCT over the whole log."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in registry.allowed_models()]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[RequestLog]
    ) -> QuerySet[RequestLog]:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class ModelFilter(admin.SimpleListFilter):
    """The models requests may pick, from settings rather than from the whole log."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        models = sorted({m for names in registry.allowed_models().values() for m in names})
        return [(model, model) for model in models]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[RequestLog]
    ) -> QuerySet[RequestLog]:
        return queryset.filter(model=self.value()) if self.value() else queryset


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    """Read-only: the log records what happened (old rows may be deleted, as prune_logs does)."""

    can_delete = True

    list_display = (
        "created_at",
        "username",
        "client_ip",
        "status",
        "provider",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "tokens_charged",
        "latency_ms",
        "source",
        "streamed",
    )
    list_filter = ("status", ProviderFilter, ModelFilter, "source", "streamed", "created_at")
    search_fields = ("username", "client_ip", "request_text", "response_text", "error_code")
    # No date_hierarchy: it runs SELECT DISTINCT date_trunc(…) over the whole log.
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow
