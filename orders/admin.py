"""Staff manage the catalog here; orders are shown read-only with their items."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from orders.models import Order, OrderItem, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "available", "updated_at")
    list_editable = ("price", "available")
    list_filter = ("available",)
    search_fields = ("sku", "name", "description")


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    can_delete = False
    fields = ("product", "quantity", "unit_price", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "status", "created_at", "confirmed_at")
    list_filter = ("status", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    readonly_fields = ("user", "status", "created_at", "updated_at", "confirmed_at", "cancelled_at")
    inlines = (OrderItemInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
