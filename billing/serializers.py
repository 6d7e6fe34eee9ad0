"""Request and response shapes of the billing API."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from billing.models import LedgerEntry

MAX_USAGE_DAYS = 366  # a report spans at most a year


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


class UsageQuery(serializers.Serializer):
    """`?from=&to=&group_by=`: UTC days, both included; the last 30 days by default."""

    # `from` is a keyword: declared through the class namespace, which DRF reads its fields from.
    locals()["from"] = serializers.DateField(required=False, help_text="First day (UTC).")
    to = serializers.DateField(required=False, help_text="Last day (UTC), included; today.")
    group_by = serializers.ChoiceField(choices=["day", "model"], default="day")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        to = attrs.get("to") or timezone.now().astimezone(UTC).date()
        for name in ("from", "to"):  # a day to count from, and one after: both must exist
            if name in attrs and not date(2, 1, 1) <= attrs[name] <= date(9998, 12, 31):
                raise serializers.ValidationError({name: ["Out of range."]})
        since = attrs.get("from") or to - timedelta(days=29)
        if since > to:
            raise serializers.ValidationError({"from": ["Must not be after `to`."]})
        if (to - since).days >= MAX_USAGE_DAYS:
            raise serializers.ValidationError({"from": [f"At most {MAX_USAGE_DAYS} days."]})
        return {**attrs, "from": since, "to": to}


class StaffUsageQuery(UsageQuery):
    group_by = serializers.ChoiceField(choices=["day", "model", "user"], default="user")
    user = serializers.CharField(required=False, help_text="Only this username's usage.")


class UsageRowOutput(serializers.Serializer):
    day = serializers.DateField(required=False, help_text="With group_by=day.")
    model = serializers.CharField(required=False, help_text="With group_by=model.")
    user_id = serializers.IntegerField(required=False, help_text="With group_by=user.")
    user = serializers.CharField(required=False, help_text="With group_by=user.")
    chats = serializers.IntegerField(help_text="Chats charged.")
    refunds = serializers.IntegerField(help_text="Of them, refunded (the model failed).")
    tokens_charged = serializers.IntegerField()
    tokens_refunded = serializers.IntegerField(
        help_text="Given back: refunds, and under usage pricing what each hold did not use."
    )
    tokens_spent = serializers.IntegerField(help_text="Charged less refunded.")


class PaginatedUsageRowList(serializers.Serializer):
    """A page of usage rows, in the shape of every paginated list."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = UsageRowOutput(many=True)
