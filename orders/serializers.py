"""Shapes of the catalog and orders API (and of the `order` in a chat response)."""

from __future__ import annotations

from rest_framework import serializers

from orders.models import Product


class ProductSearchInput(serializers.Serializer):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Words to match."
    )


class ProductOutput(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ("id", "sku", "name", "description", "price", "aliases", "available")
        read_only_fields = fields


class OrderItemOutput(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=9, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    note = serializers.CharField(allow_blank=True)


class OrderOutput(serializers.Serializer):
    """An order with its items and the total computed from them."""

    id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["draft", "confirmed", "cancelled"])
    items = OrderItemOutput(many=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
