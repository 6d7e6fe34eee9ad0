"""The order tools offered to the model on every chat, and the server-side code that runs them.

The model only ever proposes; these functions check and act, on the caller's own draft order
only, and answer with a `message` written for people that the model can relay as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser

from orders import catalog, services
from orders.catalog import catalog_matches
from orders.confirmation import confirms_order
from orders.exceptions import ConfirmationRequired, InvalidText, OrderError
from orders.models import Order, Product
from orders.selectors import draft_of, order_summary, orders_of, product_resolve
from providers.types import ToolCall, ToolSpec

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def _product_parameter(products: Sequence[Product]) -> dict[str, Any]:
    return {
        "type": "string",
        "description": "The product's SKU or name, as listed in the catalog.",
        # A hint for the offline assistant; vendor adapters strip `x-` keys.
        "x-catalog": [
            {
                "sku": p.sku,
                "names": [p.name, *[str(alias) for alias in p.aliases]],
                "description": p.description,
            }
            for p in products
        ],
    }


def tool_specs() -> list[ToolSpec]:
    """The order tools, their product hints taken from the catalog snapshot (no query)."""
    products = catalog.snapshot().products
    product = _product_parameter(products)
    listed = "; ".join(f"{p.sku} = {p.name}" for p in products[:200])
    limit = settings.MAX_ITEM_QUANTITY
    return [
        ToolSpec(
            "search_catalog",
            "Find products on the menu by name or description (e.g. 'spicy', 'vegetarian').",
            {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look for."}},
                "required": ["query"],
            },
        ),
        ToolSpec(
            "add_to_order",
            f"Add a product to the customer's draft order. Catalog: {listed}.",
            {
                "type": "object",
                "properties": {
                    "product": product,
                    "quantity": {"type": "integer", "minimum": 1, "maximum": limit},
                    "note": {"type": "string", "description": "e.g. 'no onions'"},
                },
                "required": ["product", "quantity"],
            },
        ),
        ToolSpec(
            "remove_from_order",
            "Remove a product from the draft order; without a quantity, all of it.",
            {
                "type": "object",
                "properties": {
                    "product": product,
                    "quantity": {"type": "integer", "minimum": 1, "maximum": limit},
                },
                "required": ["product"],
            },
        ),
        ToolSpec("view_order", "Show the customer's current draft order.", NO_ARGUMENTS),
        ToolSpec("confirm_order", "Place (confirm) the draft order.", NO_ARGUMENTS),
        ToolSpec("cancel_order", "Cancel the draft order.", NO_ARGUMENTS),
    ]


class OrderToolbox:
    """The order tools for one user (see `chat.context.Toolbox`).

    ``customer_text`` is the customer's own message of this turn: `confirm_order` places the
    order only when those words ask for it (`orders.confirmation`), whatever the model was told
    by a passage, a memory or its own reasoning.
    """

    def __init__(self, user: AbstractBaseUser, customer_text: str = "") -> None:
        self.user = user
        self.customer_text = customer_text
        self._specs: list[ToolSpec] | None = None

    def specs(self) -> Sequence[ToolSpec]:
        if self._specs is None:
            self._specs = tool_specs()
        return self._specs

    def execute(self, call: ToolCall) -> Mapping[str, Any]:
        handler = getattr(self, f"_{call.name}", None)
        if handler is None:
            return {"ok": False, "message": f"There is no tool called {call.name!r}."}
        try:
            if _holds_nul(call.arguments):
                raise InvalidText(f"The arguments of {call.name} contain a NUL character.")
            return handler(dict(call.arguments))
        except OrderError as refusal:
            return {"ok": False, "message": str(refusal), "order": self._current()}
        except KeyError as missing:
            return {"ok": False, "message": f"{call.name} needs a {missing.args[0]!r} argument."}
        except (TypeError, ValueError) as bad:
            return {"ok": False, "message": f"Those arguments do not fit {call.name}: {bad}."}

    def _current(self) -> dict[str, Any] | None:
        draft = draft_of(user=self.user)
        return order_summary(draft) if draft else None

    def _done(self, message: str, order: Order) -> dict[str, Any]:
        fresh = orders_of(user=self.user).get(pk=order.pk)
        return {"ok": True, "message": message, "order": order_summary(fresh)}

    def _search_catalog(self, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query", ""))
        found = catalog_matches(query=query, limit=8)
        if not found:
            return {
                "ok": True,
                "message": f"Nothing on the menu matches {query!r}.",
                "products": [],
            }
        lines = [f"{p.name} ({p.sku}) {settings.SHOP_CURRENCY} {p.price}" for p in found]
        return {
            "ok": True,
            "message": "On the menu: " + "; ".join(lines) + ".",
            "products": [
                {"sku": p.sku, "name": p.name, "price": str(p.price), "description": p.description}
                for p in found
            ],
        }

    def _add_to_order(self, args: dict[str, Any]) -> dict[str, Any]:
        quantity = _whole(args.get("quantity", 1))
        product = product_resolve(reference=str(args["product"]))
        note = str(args.get("note") or "")
        order = services.item_add(user=self.user, product=product, quantity=quantity, note=note)
        return self._done(f"Added {quantity} × {product.name}.", order)

    def _remove_from_order(self, args: dict[str, Any]) -> dict[str, Any]:
        quantity = args.get("quantity")
        product = product_resolve(reference=str(args["product"]))
        order = services.item_remove(
            user=self.user,
            product=product,
            quantity=None if quantity is None else _whole(quantity),
        )
        what = f"{quantity} × " if quantity is not None else "the "
        return self._done(f"Removed {what}{product.name} from your order.", order)

    def _view_order(self, args: dict[str, Any]) -> dict[str, Any]:
        current = self._current()
        if current is not None and current["items"]:
            return {"ok": True, "message": _describe(current), "order": current}
        last = orders_of(user=self.user).exclude(status=Order.Status.DRAFT).first()
        message = "Your order is empty."
        if last is not None:
            message += f" Your last order, #{last.pk}, is {last.status}."
        return {"ok": True, "message": message, "order": current}

    def _confirm_order(self, args: dict[str, Any]) -> dict[str, Any]:
        if not confirms_order(self.customer_text):
            raise ConfirmationRequired(
                "Nothing was placed: only the customer can confirm an order, by saying "
                "\u201cconfirm\u201d or pressing Confirm order."
            )
        order = services.order_confirm(user=self.user)
        summary = order_summary(orders_of(user=self.user).get(pk=order.pk))
        return {"ok": True, "message": f"Confirmed! {_describe(summary)}", "order": summary}

    def _cancel_order(self, args: dict[str, Any]) -> dict[str, Any]:
        order = services.order_cancel(user=self.user)
        return self._done(f"Order #{order.pk} is cancelled.", order)


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in a tool's JSON arguments, keys included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


def _whole(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("quantity must be a whole number")
    return int(value)


def _describe(order: Mapping[str, Any]) -> str:
    items = ", ".join(
        f"{item['quantity']} × {item['name']}" + (f" ({item['note']})" if item["note"] else "")
        for item in order["items"]
    )
    return f"Order #{order['number']}: {items}. Total {order['currency']} {order['total']}."
