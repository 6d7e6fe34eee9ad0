"""The tool loop's second step: the order tools' results turned into the final answer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from providers.types import Message

_CHANGING_TOOLS = frozenset({"add_to_order", "remove_from_order"})
_CLOSED_STATUSES = frozenset({"confirmed", "cancelled", "canceled", "placed", "paid"})
_MAX_RAW_CHARS = 300
NEXT_STEP = "Anything else? Say \u201cconfirm\u201d when you're ready to place the order."


def relay_tool_results(results: Sequence[Message]) -> str:
    """Relay each tool's human ``message`` in order, then suggest the next step.

    The tools already phrase their outcome for people ("Added 2 × Pepperoni Pizza."); the
    assistant's job is to pass that on faithfully, not to restate it in other words.
    """
    lines: list[str] = []
    changed = False
    last_order: Mapping[str, Any] | None = None
    for result in results:
        data = _parse(result.content)
        order = data.get("order")
        order = order if isinstance(order, Mapping) else None
        ok = data.get("ok", True) is not False
        message = data.get("message")
        text = message.strip() if isinstance(message, str) else ""
        if not text:
            text = summarise_order(order) if order else "Done."
        elif result.name == "confirm_order" and ok and order and not _names_order(text, order):
            text = _sentence(text) + " " + summarise_order(order)
        text = _sentence(text)
        if text not in lines:
            lines.append(text)
        changed = changed or (ok and result.name in _CHANGING_TOOLS)
        last_order = order or last_order
    answer = " ".join(lines)
    status = str((last_order or {}).get("status", "")).lower()
    if changed and status not in _CLOSED_STATUSES:
        answer += " " + NEXT_STEP
    return answer


def summarise_order(order: Mapping[str, Any]) -> str:
    """One line for an order: its number, its items and its total, as far as they are known."""
    number = order.get("number") or order.get("id") or order.get("reference")
    items = order.get("items") or order.get("lines") or []
    parts = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            name = item.get("name") or item.get("product_name") or item.get("product") or "item"
            parts.append(f"{item.get('quantity', 1)} \u00d7 {name}")
    text = f"Order #{number}: " if number else "Your order: "
    text += ", ".join(parts) if parts else "no items yet"
    total = order.get("total")
    if total is not None:
        currency = order.get("currency") or ""
        text += f" \u2014 total {total}{' ' + str(currency) if currency else ''}"
    return text + "."


def _parse(content: str) -> Mapping[str, Any]:
    try:
        data = json.loads(content)
    except (TypeError, ValueError):
        data = None
    if isinstance(data, Mapping):
        return data
    # A tool that answered in plain text is relayed as it is, within reason.
    return {"message": str(content)[:_MAX_RAW_CHARS]}


def _names_order(text: str, order: Mapping[str, Any]) -> bool:
    number = order.get("number") or order.get("id") or order.get("reference")
    return number is None or str(number) in text


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?)\u2026" else text + "."
