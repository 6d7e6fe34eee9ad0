"""Finding products from loose descriptions ("something spicy") and offering them as context.

Products are embedded by meaning (`providers.semantic`: name, aliases and description) and
ranked by similarity to what the customer said; products sharing a word with it come first, so
nothing a word used to find is lost. The available products and
their vectors are a per-process snapshot, so a chat costs no catalog query: a change made in
this process (a product saved or deleted) drops it at once; one made by another process is
picked up within `REFRESH_S`, when the snapshot's key (count and last change of the available
products) is checked again. Orders never trust the snapshot: the tools read the products
they act on from the database.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Max

from orders.models import Product
from orders.selectors import draft_lines
from providers import semantic
from providers.text import content_stems
from providers.types import Passage

EVERYTHING = frozenset({"menu", "everything", "all", "anything", "catalog", "products"})
# A product sharing no word with a search must be at least this near in meaning to be listed
# ("chocolate" finds the tiramisu's cocoa at ~0.31; "meat" nothing, "gift cards" ~0.08).
SEMANTIC_MIN = 0.3

REFRESH_S = 2.0


@dataclass(frozen=True)
class Snapshot:
    key: tuple[object, ...]
    products: list[Product]  # available ones, by name
    vectors: np.ndarray | None
    checked: float


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def snapshot() -> Snapshot:
    """The available products and their vectors, as of at most `REFRESH_S` ago."""
    global _snapshot
    current = _snapshot
    if current is not None and time.monotonic() - current.checked < REFRESH_S:
        return current
    with _lock:
        available = Product.objects.filter(available=True)
        key = tuple(available.aggregate(n=Count("id"), last=Max("updated_at")).values())
        now = time.monotonic()
        if _snapshot is not None and _snapshot.key == key:
            _snapshot = Snapshot(key, _snapshot.products, _snapshot.vectors, now)
        else:
            products = list(available.order_by("name"))
            vectors = semantic.embed([_text(p) for p in products]) if products else None
            _snapshot = Snapshot(key, products, vectors, now)
        return _snapshot


def warm() -> None:
    """Build the snapshot before the first chat needs it (for `core.warmup`), marked as due for
    its recheck, so that the first chat still sees the catalog as it is then."""
    global _snapshot
    current = snapshot()
    with _lock:
        if _snapshot is current:
            _snapshot = replace(current, checked=current.checked - REFRESH_S)


def changed() -> None:
    """Forget the snapshot (the catalog changed in this process)."""
    global _snapshot
    with _lock:
        _snapshot = None


def _text(product: Product) -> str:
    return " ".join([product.name, *map(str, product.aliases), product.description])


def catalog_matches(*, query: str, limit: int = 5) -> list[Product]:
    """Available products best matching `query`, best first; "menu" lists everything."""
    current = snapshot()
    products, vectors = current.products, current.vectors
    words = set(query.lower().split())
    if not query.strip() or words & EVERYTHING:
        return products[:limit] if limit else products
    ranked = _ranked(query, products, vectors, by_meaning=True)
    return [product for product, _ in ranked[:limit]]


def _ranked(
    query: str, products: list[Product], vectors: np.ndarray | None, *, by_meaning: bool = False
) -> list[tuple[Product, float]]:
    """Products sharing at least one real word with the query, nearest in meaning first; with
    ``by_meaning``, then those sharing none but at least `SEMANTIC_MIN` near.

    The chat's context passages take only the first kind: a passage the assistant may quote
    must say something the customer said.
    """
    wanted = set(content_stems(query))
    if vectors is None or not wanted:
        return []
    scores = vectors @ semantic.embed([query])[0]
    order = [int(i) for i in np.argsort(-scores)]
    sharing = [i for i in order if wanted & set(content_stems(_text(products[i])))]
    shared = set(sharing)
    near = [i for i in order if by_meaning and i not in shared and scores[i] >= SEMANTIC_MIN]
    return [(products[i], float(scores[i])) for i in sharing + near]


def passages_for(user: AbstractBaseUser, text: str) -> list[Passage]:
    """Chat context: the catalog entries the message is about, and the caller's draft order."""
    current = snapshot()
    passages = [
        Passage(
            source=f"Menu: {product.name}",
            text=f"{product.name} ({product.sku}), {product.price}: {product.description}",
            score=score,
            kind="catalog",
        )
        for product, score in _ranked(text, current.products, current.vectors)[:3]
    ]
    draft = draft_lines(user=user)
    if draft is not None:
        items = ", ".join(f"{quantity} × {name}" for quantity, name in draft.lines) or "empty"
        passages.append(
            Passage(
                source="Your current order",
                text=f"Draft order #{draft.number}: {items}; total {draft.total}.",
                score=1.0,
                kind="catalog",
                private=True,
            )
        )
    return passages
