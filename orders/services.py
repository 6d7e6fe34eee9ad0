"""Every change to an order. Each runs in one transaction holding the order's row lock.

The lock (and SQLite's IMMEDIATE transactions) close the race between, say, a confirm and a
cancel arriving together: the second one finds the order no longer a draft and is refused.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from orders import catalog
from orders.exceptions import (
    InvalidQuantity,
    InvalidText,
    OrderEmpty,
    OrderError,
    OrderNotEditable,
    OrderNotFound,
    ProductUnavailable,
)
from orders.models import Order, OrderItem, Product


def _check_quantity(quantity: int) -> None:
    limit = settings.MAX_ITEM_QUANTITY
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= limit:
        raise InvalidQuantity(f"Quantities must be whole numbers from 1 to {limit}.")


def _locked_draft(user: AbstractBaseUser, *, create: bool) -> Order | None:
    draft = Order.objects.select_for_update().filter(user_id=user.pk, status=Order.Status.DRAFT)
    order = draft.first()
    if order is None and create:
        try:
            with transaction.atomic():
                order = Order.objects.create(user_id=user.pk)
        except IntegrityError:  # a twin request created it first
            order = draft.first()
    return order


def _locked_order(user: AbstractBaseUser, order_id: int | None) -> Order:
    """The caller's order `order_id`, or their draft when no id is given; row-locked."""
    if order_id is None:
        order = _locked_draft(user, create=False)
        if order is None:
            raise OrderEmpty("Your order is empty: add something first.")
        return order
    order = Order.objects.select_for_update().filter(pk=order_id, user_id=user.pk).first()
    if order is None:
        raise OrderNotFound(f"Order {order_id} not found.")
    return order


@transaction.atomic
def item_add(*, user: AbstractBaseUser, product: Product, quantity: int, note: str = "") -> Order:
    """Add `quantity` of a product to the caller's draft order (starting one if needed)."""
    _check_quantity(quantity)
    if "\x00" in note:  # SQLite would keep it; PostgreSQL refuses text holding a NUL
        raise InvalidText("A note cannot contain a NUL character.")
    found = product
    if not found.available:
        raise ProductUnavailable(f"Sorry, {found.name} is not available right now.")
    order = _locked_draft(user, create=True)
    assert order is not None  # noqa: S101 - create=True always returns an order
    note = " ".join(note.split())[:200]
    lines = list(order.items.filter(product=found))
    # The cap is per product, over all its lines: a new note must not open room for more.
    already = sum(line.quantity for line in lines)
    if already + quantity > settings.MAX_ITEM_QUANTITY:
        raise InvalidQuantity(
            f"That would make {already + quantity} × {found.name}; "
            f"the most per item is {settings.MAX_ITEM_QUANTITY}."
        )
    line = next((line for line in lines if line.note == note), None)
    if line is not None:
        OrderItem.objects.filter(pk=line.pk).update(quantity=F("quantity") + quantity)
    else:
        OrderItem.objects.create(
            order=order, product=found, quantity=quantity, unit_price=found.price, note=note
        )
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now())
    return order


@transaction.atomic
def item_remove(*, user: AbstractBaseUser, product: Product, quantity: int | None = None) -> Order:
    """Take `quantity` (all of it when None) of a product out of the caller's draft."""
    if quantity is not None:
        _check_quantity(quantity)
    found = product
    order = _locked_draft(user, create=False)
    lines = list(order.items.filter(product=found).order_by("-id")) if order else []
    if order is None or not lines:
        raise OrderError(f"There is no {found.name} in your order.")
    remaining = quantity if quantity is not None else sum(line.quantity for line in lines)
    for line in lines:
        if remaining <= 0:
            break
        if line.quantity <= remaining:
            remaining -= line.quantity
            line.delete()
        else:
            OrderItem.objects.filter(pk=line.pk).update(quantity=F("quantity") - remaining)
            remaining = 0
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now())
    return order


def _close(order: Order, status: str, stamp: str) -> Order:
    """Move a draft to its final `status`, stamping the `stamp` time field."""
    now = timezone.now()
    # Conditional, so that even without a row lock only one of two racing requests wins.
    won = Order.objects.filter(pk=order.pk, status=Order.Status.DRAFT).update(
        status=status, updated_at=now, **{stamp: now}
    )
    if not won:  # pragma: no cover - the row lock makes this unreachable
        raise OrderNotEditable(f"Order #{order.pk} was changed by another request.")
    order.refresh_from_db()
    return order


def _locked_draft_order(user: AbstractBaseUser, order_id: int | None) -> Order:
    order = _locked_order(user, order_id)
    if order.status != Order.Status.DRAFT:
        raise OrderNotEditable(f"Order #{order.pk} is already {order.status}.")
    return order


@transaction.atomic
def order_confirm(*, user: AbstractBaseUser, order_id: int | None = None) -> Order:
    """Place the order: a draft with items becomes confirmed, once."""
    order = _locked_draft_order(user, order_id)
    if not order.items.exists():
        raise OrderEmpty("Your order is empty: add something before confirming.")
    return _close(order, Order.Status.CONFIRMED, "confirmed_at")


@transaction.atomic
def order_cancel(*, user: AbstractBaseUser, order_id: int | None = None) -> Order:
    """Cancel a draft. Confirmed orders are final."""
    return _close(_locked_draft_order(user, order_id), Order.Status.CANCELLED, "cancelled_at")


@transaction.atomic
def user_erase(*, user: AbstractBaseUser) -> int:
    """Erase what the person wrote on their orders, the lines' notes, and cancel their draft,
    which nobody can confirm any more; the orders stay as records with their lines and amounts.
    Returns how many notes were erased."""
    now = timezone.now()
    Order.objects.filter(user_id=user.pk, status=Order.Status.DRAFT).update(
        status=Order.Status.CANCELLED, cancelled_at=now, updated_at=now
    )
    # Notes tell an order's lines of one product apart (one_line_per_item): each erased one
    # keeps a distinct text, that says only which line it was.
    erased = Concat(Value("erased note of line "), Cast("id", output_field=CharField()))
    return OrderItem.objects.filter(order__user_id=user.pk).exclude(note="").update(note=erased)


@transaction.atomic
def catalog_load(*, products: list[dict[str, object]]) -> int:
    """Add the products whose SKU is not in the catalog yet; returns how many were added.

    Existing products are left as staff edited them, so loading again never duplicates.
    """
    known = set(Product.objects.values_list("sku", flat=True))
    new = [
        Product(
            sku=str(item["sku"]),
            name=str(item["name"]),
            description=str(item.get("description", "")),
            price=Decimal(str(item["price"])),
            aliases=list(item.get("aliases", [])),  # type: ignore[call-overload]
        )
        for item in products
        if item["sku"] not in known
    ]
    Product.objects.bulk_create(new)
    catalog.changed()  # bulk_create sends no post_save
    return len(new)
