"""Request and response shapes of the billing API."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from billing.models import LedgerEntry


class TokensOutput(serializers.Serializer):
    tokens = serializers.IntegerField()


class LedgerEntryOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username",
        allow_null=True,
        default=None,
        help_text="The staff member who made a top-up or adjustment; null for the system's own.",
    )

    class Meta:
        model = LedgerEntry
        fields = (
            "id",
            "delta",
            "balance_after",
            "kind",
            "reference",
            "model",
            "note",
            "created_by",
            "created_at",
        )
        read_only_fields = fields


class TopUpInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    amount = serializers.IntegerField(min_value=1)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_amount(self, value: int) -> int:
        if value > settings.MAX_TOP_UP:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {settings.MAX_TOP_UP}."
            )
        return value


class TopUpOutput(serializers.Serializer):
    username = serializers.CharField()
    amount = serializers.IntegerField()
    tokens = serializers.IntegerField(help_text="The user's balance after the top-up.")
    entry = LedgerEntryOutput()
