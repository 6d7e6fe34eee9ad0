"""Conversations and the request log in the Django admin, for operators."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chat.models import Conversation, Message, RequestLog


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


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    """Read-only: the log records what happened."""

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
    list_filter = ("status", "provider", "model", "source", "streamed", "created_at")
    search_fields = ("username", "client_ip", "request_text", "response_text", "error_code")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
