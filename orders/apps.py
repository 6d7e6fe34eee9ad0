"""The orders app's configuration."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from orders.models import Product

        post_save.connect(_catalog_changed, sender=Product, dispatch_uid="orders.catalog.save")
        post_delete.connect(_catalog_changed, sender=Product, dispatch_uid="orders.catalog.del")


def _catalog_changed(**kwargs: Any) -> None:
    from orders import catalog

    catalog.changed()
