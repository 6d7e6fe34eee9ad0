"""Shapes of the providers API: which providers and models a client may ask for."""

from __future__ import annotations

from rest_framework import serializers


class DefaultChoiceOutput(serializers.Serializer):
    provider = serializers.CharField(help_text="The provider used when a request names none.")
    model = serializers.CharField(help_text="The model used when a request names none.")


class ProviderOutput(serializers.Serializer):
    name = serializers.CharField(help_text="Provider name, e.g. local, openai, gemini.")
    default_model = serializers.CharField()
    models = serializers.ListField(
        child=serializers.CharField(), help_text="Models a request may name for this provider."
    )
    prices = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Tokens a chat with each model costs under flat pricing (CHAT_PRICES, else "
        "CHAT_COST).",
    )
    rates = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()),
        help_text="Under usage pricing: credits per 1,000 prompt and completion tokens of each "
        "model (CHAT_RATES, else CHAT_RATE_DEFAULT).",
    )


class ProvidersOutput(serializers.Serializer):
    pricing = serializers.ChoiceField(
        choices=["flat", "usage"], help_text="How chats are charged (CHAT_PRICING)."
    )
    default = DefaultChoiceOutput()
    providers = ProviderOutput(many=True, help_text="Only the providers configured here.")
