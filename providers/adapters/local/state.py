"""Where the conversation stands: the draft order the server holds, and the item last talked
about, which "make it two", "another one" and "remove it" refer to.

The draft comes from the server's own passage ("Your current order", written by the orders app
on every turn), never from the assistant's earlier words; the tools check every call anyway.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from providers.text import normalise
from providers.types import Message, Passage

from .catalog import Catalog, Mention
from .descriptors import descriptor_mentions

# "Draft order #12: 2 × Margherita, 1 × Coca-Cola; total 19.50." (orders.catalog.passages_for)
_DRAFT = re.compile(r"^Draft order #\d+: (?P<lines>.*); total [^;]*$", re.DOTALL)
_LINE = re.compile(r"^(?P<quantity>\d+) \u00d7 (?P<name>.+)$")
# Words plus the separators , . ; : ! ? that end clauses: separators end notes and split clauses.
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*|[,.;:!?]")


class DialogueState:
    """The draft (SKU -> quantity, in the order its lines were added) and the item in focus.

    The focus is the product the customer named most recently that is in the draft; if none
    is, the draft's newest line; with no draft at all, simply the product named last ("is the
    diavola spicy?" ... "I'll take one"). It is worked out only when a message refers to it.
    """

    def __init__(
        self, catalog: Catalog, passages: Sequence[Passage], earlier: Sequence[Message]
    ) -> None:
        self.catalog = catalog
        self.draft = _draft(catalog, passages)
        self._earlier = earlier  # the history before the customer's latest message

    def quantity(self, sku: str) -> int:
        return self.draft.get(sku, 0)

    @functools.cached_property
    def focus(self) -> str | None:
        named_first: str | None = None
        for message in reversed(self._earlier):
            if message.role != "user":
                continue
            tokens = TOKEN.findall(normalise(message.content))
            for mention in reversed(product_mentions(tokens, self.catalog)):
                if mention.sku in self.draft:
                    return mention.sku
                named_first = named_first or mention.sku
        if self.draft:
            return list(self.draft)[-1]
        return named_first


def product_mentions(tokens: Sequence[str], catalog: Catalog) -> list[Mention]:
    """Products named in ``tokens``: by name first, then by description, left to right."""
    stems = catalog.canonical(tokens)
    mentions = catalog.mentions(stems)
    described = descriptor_mentions(tokens, stems, mentions, catalog)
    return sorted([*mentions, *described], key=lambda mention: mention.start)


def _draft(catalog: Catalog, passages: Sequence[Passage]) -> dict[str, int]:
    for passage in passages:
        found = _DRAFT.match(passage.text) if passage.kind == "catalog" else None
        if found is None:
            continue
        draft: dict[str, int] = {}
        for part in found.group("lines").split(", "):
            line = _LINE.match(part.strip())
            sku = catalog.sku_named(line.group("name")) if line else None
            if line and sku:  # lines with different notes are one product's
                draft[sku] = draft.get(sku, 0) + int(line.group("quantity"))
        return draft
    return {}
