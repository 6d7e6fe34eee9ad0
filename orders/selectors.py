"""Reads: finding products by what people call them, and an order as the API and tools show it."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from core import statements
from orders.exceptions import ProductNotFound
from orders.models import Order, OrderItem, Product


def _names(product: Product) -> list[str]:
    return [product.sku, product.name, *[str(alias) for alias in product.aliases]]


def product_resolve(*, reference: str) -> Product:
    """The one product `reference` names: its SKU, name or an alias, allowing small typos.

    Raises `ProductNotFound` with suggestions when nothing (or more than one thing) matches.
    """
    wanted = " ".join(reference.lower().split())
    products = list(Product.objects.all())
    by_name: dict[str, set[int]] = {}
    for product in products:
        for name in _names(product):
            by_name.setdefault(" ".join(name.lower().split()), set()).add(product.pk)
    for candidate in (wanted, wanted.rstrip("s"), wanted.removesuffix("es")):
        ids = by_name.get(candidate)
        if ids and len(ids) == 1:
            return next(p for p in products if p.pk in ids)
    close = difflib.get_close_matches(wanted, by_name, n=3, cutoff=0.8)
    matches = {pk for name in close for pk in by_name[name]}
    if len(matches) == 1:
        return next(p for p in products if p.pk in matches)
    suggestions = [p.name for p in products if p.pk in matches] or _suggest(wanted, products)
    hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
    raise ProductNotFound(f"We don't have {reference!r} on the menu.{hint}")


def _suggest(wanted: str, products: list[Product]) -> list[str]:
    words = set(wanted.split())
    scored = [(len(words & set(" ".join(_names(p)).lower().split())), p.name) for p in products]
    return [name for score, name in sorted(scored, reverse=True)[:2] if score]


def products_search(*, query: str = "") -> QuerySet[Product]:
    """Products whose name, SKU, description or aliases contain every word of the query."""
    products = Product.objects.all()
    for word in query.split():
        products = products.filter(
            Q(name__icontains=word)
            | Q(sku__icontains=word)
            | Q(description__icontains=word)
            | Q(aliases__icontains=word)
        )
    return products.order_by("name")


def orders_of(*, user: AbstractBaseUser) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user.pk).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product"))
    )


def draft_of(*, user: AbstractBaseUser) -> Order | None:
    return orders_of(user=user).filter(status=Order.Status.DRAFT).first()


@dataclass(frozen=True)
class DraftLines:
    """The caller's draft order as every chat's context shows it."""

    number: int
    lines: list[tuple[int, str]]  # (quantity, product name), in the order they were added
    total: Decimal


def draft_lines(*, user: AbstractBaseUser) -> DraftLines | None:
    """`draft_of` reduced to what the chat context shows, in one hand-written query (a chat
    asks for it every time; see `core.statements`)."""
    rows = statements.fetch(_draft_select(connection.vendor), [user.pk])
    if not rows:
        return None
    places = OrderItem._meta.get_field("unit_price").decimal_places
    cents = Decimal(1).scaleb(-places)
    lines, total = [], Decimal("0.00")
    for _, quantity, name, unit_price in rows:
        if quantity is None:  # the LEFT JOIN's one row of an empty draft
            continue
        lines.append((int(quantity), str(name)))
        total += Decimal(str(unit_price)).quantize(cents) * int(quantity)
    return DraftLines(number=int(rows[0][0]), lines=lines, total=total)


@functools.cache
def _draft_select(vendor: str) -> str:
    """The draft's id and, per line in the order added, quantity, product name and unit price
    (the status written in: see `statements.literal`)."""
    order, item, product = (statements.table(m) for m in (Order, OrderItem, Product))
    col = statements.column
    return (
        f"SELECT {col(Order, 'id')}, {col(OrderItem, 'quantity')}, {col(Product, 'name')}, "  # noqa: S608
        f"{col(OrderItem, 'unit_price')} FROM {order} "
        f"LEFT OUTER JOIN {item} ON {col(OrderItem, 'order_id')} = {col(Order, 'id')} "
        f"LEFT OUTER JOIN {product} ON {col(Product, 'id')} = {col(OrderItem, 'product_id')} "
        f"WHERE {col(Order, 'user_id')} = %s "
        f"AND {col(Order, 'status')} = {statements.literal(Order.Status.DRAFT)} "
        f"ORDER BY {col(OrderItem, 'id')}"
    )


def order_summary(order: Order) -> dict[str, Any]:
    """The order as tools and the chat response show it: number, items, computed total."""
    items = [
        {
            "sku": item.product.sku,
            "name": item.product.name,
            "quantity": item.quantity,
            "unit_price": str(item.unit_price),
            "line_total": str(item.line_total),
            "note": item.note,
        }
        for item in order.items.all()
    ]
    return {
        "id": order.pk,
        "number": order.pk,
        "status": order.status,
        "items": items,
        "total": str(order.total),
        "currency": settings.SHOP_CURRENCY,
        "created_at": order.created_at,
        "confirmed_at": order.confirmed_at,
    }
