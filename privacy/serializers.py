"""Shapes of the privacy API: the deletion's confirmation and the export document, built from
each app's own output shapes so an export reads like the API."""

from __future__ import annotations

from rest_framework import serializers

from billing.serializers import LedgerEntryOutput
from chat.models import Conversation
from chat.serializers import ConversationOutput, MessageOutput
from orders.serializers import OrderOutput
from retrieval.serializers import DocumentOutput


class AccountDeleteInput(serializers.Serializer):
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, help_text="Your current password, to confirm."
    )


class ProfileExport(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    first_name = serializers.CharField(allow_blank=True)
    last_name = serializers.CharField(allow_blank=True)
    is_staff = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
    last_login = serializers.DateTimeField(allow_null=True)
    tokens = serializers.IntegerField(help_text="The balance now.")


class ConversationExport(ConversationOutput):
    messages = MessageOutput(many=True, read_only=True, help_text="Oldest first.")

    class Meta:
        model = Conversation
        fields = ("id", "title", "created_at", "updated_at", "messages")
        read_only_fields = fields


class ExportOutput(serializers.Serializer):
    """Everything Tally keeps about you, oldest first in each list. Documents are described,
    not included: their files are not kept, and their text is what you uploaded."""

    format = serializers.CharField(help_text='The document\'s shape and version: "tally-export/1".')
    exported_at = serializers.DateTimeField()
    profile = ProfileExport()
    conversations = ConversationExport(many=True, help_text="With their messages.")
    documents = DocumentOutput(many=True, help_text="Those you uploaded (metadata only).")
    orders = OrderOutput(many=True, help_text="With their lines and totals.")
    ledger = LedgerEntryOutput(many=True, help_text="Every change of your token balance.")
