"""Request and response shapes of the chat and conversations API."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from chat.models import Conversation, Message
from orders.serializers import OrderOutput


class ChatInput(serializers.Serializer):
    message = serializers.CharField(help_text="What the user says (at most CHAT_MAX_CHARS).")
    conversation = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,  # an id the database can hold (SQLite raises past it)
        help_text="Continue this conversation.",
    )
    provider = serializers.CharField(required=False, allow_null=True, max_length=40)
    model = serializers.CharField(required=False, allow_null=True, max_length=100)
    stream = serializers.BooleanField(required=False, default=False)

    def validate_message(self, value: str) -> str:
        if len(value) > settings.CHAT_MAX_CHARS:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {settings.CHAT_MAX_CHARS} characters."
            )
        return value


class SourceOutput(serializers.Serializer):
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="Document title, or what a memory passage is."
    )
    kind = serializers.ChoiceField(choices=["document", "memory", "catalog"])
    score = serializers.FloatField()


class UsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    counted = serializers.BooleanField(
        help_text="True when the model's server reported no usage and Tally counted the tokens "
        "(about four bytes a token for vendor models)."
    )


class ChatOutput(serializers.Serializer):
    """The chat's response body (and a stream's `done` event), made from a `pipeline.Answer`."""

    message = serializers.CharField()
    response = serializers.CharField()
    conversation = serializers.IntegerField()
    message_id = serializers.IntegerField(help_text="The stored answer's id.")
    tokens_charged = serializers.IntegerField()
    tokens_remaining = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["provider", "cache"])  # type: ignore[assignment]
    provider = serializers.CharField()
    model = serializers.CharField()
    sources = SourceOutput(many=True)
    usage = UsageOutput(help_text="The model's token counts (not the credits charged).")
    order = OrderOutput(
        allow_null=True, help_text="The order, when this turn touched it (through order tools)."
    )


class ConversationOutput(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ("id", "title", "created_at", "updated_at")
        read_only_fields = fields


class ConversationUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)


class MessageOutput(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = (
            "id",
            "role",
            "content",
            "status",
            "provider",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "tokens_charged",
            "source",
            "sources",
            "latency_ms",
            "created_at",
        )
        read_only_fields = fields


class StreamEventOutput(serializers.Serializer):
    """One Server-Sent Event of a streamed chat (the schema describes each event)."""

    event = serializers.ChoiceField(choices=["delta", "done", "error"])
    data = serializers.CharField(  # type: ignore[assignment]
        help_text='JSON. delta: {"text"}; done: the ChatOutput object; '
        'error: {"detail", "code", "tokens_remaining"} (the chat was refunded).'
    )
