"""Order errors. Each message is written for people: the assistant relays it as it is; the
API answers 400 with the error's `code` unless a class says otherwise."""

from __future__ import annotations

from rest_framework import status

from core.errors import DomainError


class OrderError(DomainError):
    """Base of every refusal of an order operation."""

    code = "order_error"


class ProductNotFound(OrderError):
    """No product matches the name, alias or SKU given (HTTP 400 / a tool refusal)."""

    code = "product_not_found"


class ProductUnavailable(OrderError):
    """The product exists but cannot be ordered now."""

    code = "product_unavailable"


class InvalidQuantity(OrderError):
    """A quantity outside 1..MAX_ITEM_QUANTITY."""

    code = "invalid_quantity"


class ConfirmationRequired(OrderError):
    """The customer's own message did not ask to place the order: only they may (a tool refusal;
    the REST API's confirm endpoint is their own act)."""

    code = "confirmation_required"


class InvalidText(OrderError):
    """Text no database can store (a NUL character) in an order's field or a tool argument."""

    code = "invalid_text"


class OrderEmpty(OrderError):
    """An order with no items cannot be confirmed."""

    code = "order_empty"


class OrderNotEditable(OrderError):
    """The order is confirmed or cancelled; it can no longer change (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT
    code = "order_not_editable"


class OrderNotFound(OrderError):
    """No such order belongs to the caller (HTTP 404)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
