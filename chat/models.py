"""Conversations, their messages, the request log and idempotency records."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    # Indexed by conversation_user_recent, whose first column it is.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        db_index=False,
    )
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-updated_at", "-id")
        indexes: ClassVar = [
            models.Index(fields=["user", "-updated_at"], name="conversation_user_recent"),
        ]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    """One turn. A user turn records what was charged; the answer records the model's usage."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        PENDING = "pending"
        OK = "ok"
        FAILED = "failed"

    class Source(models.TextChoices):
        PROVIDER = "provider"
        CACHE = "cache"

    # Indexed by message_conversation_newest, whose first column it is.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    provider = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=100, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    tokens_charged = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, blank=True, default="")
    latency_ms = models.PositiveIntegerField(default=0)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    sources = models.JSONField(default=list, blank=True)
    # On a user turn: the ledger reference of its charge (and of its refund, if any).
    reference = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        indexes: ClassVar = [
            models.Index(fields=["conversation", "-id"], name="message_conversation_newest"),
            # reconcile_charges looks for the few turns left pending by a dead worker.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="message_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class RequestLog(models.Model):
    """Every chat request, whatever became of it, for operators (browsable in the admin)."""

    class Status(models.TextChoices):
        OK = "ok"
        PROVIDER_ERROR = "provider_error"
        CANCELLED = "cancelled"

    # Indexed by requestlog_user_recent, whose first column it is.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
    )
    username = models.CharField(max_length=150)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    request_text = models.TextField()
    response_text = models.TextField(blank=True, default="")
    provider = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=100, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    tokens_charged = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Message.Source.choices, blank=True, default="")
    streamed = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices)
    error_code = models.CharField(max_length=50, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Newest first by time, not id: a filter on created_at then walks its own index
        # instead of every newer row (ids and times rise together, but the planner can't know).
        ordering = ("-created_at", "-id")
        indexes: ClassVar = [
            models.Index(fields=["created_at", "id"], name="requestlog_recent"),
            models.Index(fields=["user", "created_at", "id"], name="requestlog_user_recent"),
            models.Index(fields=["status", "created_at", "id"], name="requestlog_status_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.status} {self.created_at:%Y-%m-%d %H:%M:%S}"


class IdempotencyKey(models.Model):
    """The first outcome of a request sent with an `Idempotency-Key`, per user, for 24 hours."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]
        indexes: ClassVar = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return self.key


class LiveSocket(models.Model):
    """A chat WebSocket open somewhere, for `WS_MAX_SOCKETS_PER_USER` across workers and
    machines. Its worker refreshes `seen_at`; a row not seen for a while was left by a worker
    that died, and no longer counts (`chat.sockets`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.channel_name
