"""The shop's products as the order tools describe them, and finding them in what people say."""

from __future__ import annotations

import difflib
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from providers.types import ToolSpec

from .words import STOPWORDS, stem, words

# Typos shorter than this are too often another real word ("later" vs "water").
_FUZZY_MIN_LENGTH = 5
_FUZZY_CUTOFF = 0.85
CATALOG_TOOLS = ("add_to_order", "remove_from_order")
# Words that steer the conversation must never be "corrected" into a product name.
_COMMAND_WORDS = frozenset(
    "remove cancel confirm order delete without instead replace change swap switch extra large "
    "small medium regular another dozen couple twenty thirty forty fifty sixty seventy eighty "
    "ninety seven eight three after".split()
)


@dataclass(frozen=True)
class Product:
    """One orderable product: its SKU, its display name and every way to say it."""

    sku: str
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Mention:
    """A product named in ``tokens[start:end]``."""

    start: int
    end: int
    sku: str


@dataclass
class Catalog:
    """Products indexed by the stemmed word sequences of their names and aliases."""

    products: tuple[Product, ...]
    _index: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _vocabulary: list[str] = field(default_factory=list, repr=False)
    _corrections: dict[str, str | None] = field(default_factory=dict, repr=False)
    _parts: frozenset[str] = frozenset()
    longest: int = 0
    generic: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        shared: dict[str, set[str]] = {}
        for product in self.products:
            for name in product.names:
                key = tuple(stem(word) for word in words(name))
                if not key:
                    continue
                # The first product to claim an alias keeps it: the catalog lists names first.
                self._index.setdefault(key, product.sku)
                self.longest = max(self.longest, len(key))
                for part in key:
                    shared.setdefault(part, set()).add(product.sku)
        self._parts = frozenset(shared)
        self._vocabulary = sorted(
            part for part in shared if len(part) >= _FUZZY_MIN_LENGTH - 1 and part.isalpha()
        )
        # A word in several products' names ("pizza") names a category, not a product.
        self.generic = frozenset(part for part, skus in shared.items() if len(skus) > 1)

    def __bool__(self) -> bool:
        return bool(self.products)

    def name_of(self, sku: str) -> str:
        for product in self.products:
            if product.sku == sku:
                return product.name
        return sku

    def canonical(self, tokens: Sequence[str]) -> list[str]:
        """Stem each token, correcting near-misses of catalog words ("margarita")."""
        return [self._correct(token) for token in tokens]

    def mentions(self, stems: Sequence[str]) -> list[Mention]:
        """Products named in ``stems``, left to right, always preferring the longest name."""
        found: list[Mention] = []
        position = 0
        while position < len(stems):
            for length in range(min(self.longest, len(stems) - position), 0, -1):
                key = tuple(stems[position : position + length])
                sku = self._index.get(key)
                if sku is not None:
                    found.append(Mention(position, position + length, sku))
                    position += length
                    break
            else:
                position += 1
        return found

    def _correct(self, token: str) -> str:
        stemmed = stem(token)
        if (
            len(token) < _FUZZY_MIN_LENGTH
            or not token.isalpha()
            or token in STOPWORDS
            or token in _COMMAND_WORDS
            or stemmed in self._parts
        ):
            return stemmed
        if stemmed not in self._corrections:
            close = difflib.get_close_matches(stemmed, self._vocabulary, n=1, cutoff=_FUZZY_CUTOFF)
            self._corrections[stemmed] = close[0] if close else None
        return self._corrections[stemmed] or stemmed


# The tools asked about last and their catalog. The order tools are made once per catalog
# snapshot and specs are never changed once made, so every turn until the catalog changes
# asks about the very same spec objects: then not even their hints need reading again.
_last: tuple[tuple[ToolSpec, ...], Catalog] | None = None


def catalog_from_tools(tools: Sequence[ToolSpec]) -> Catalog:
    """The products listed in the order tools' ``x-catalog`` hints (empty when there are none)."""
    global _last
    last = _last
    if last is not None and len(last[0]) == len(tools) and all(map(operator.is_, last[0], tools)):
        return last[1]
    catalog = _catalog_of(tools)
    _last = (tuple(tools), catalog)  # holding them keeps their ids from being reused
    return catalog


def _catalog_of(tools: Sequence[ToolSpec]) -> Catalog:
    entries: list[Any] = []
    for tool in tools:
        if tool.name not in CATALOG_TOOLS:
            continue
        properties = tool.parameters.get("properties", {})
        product = properties.get("product", {}) if isinstance(properties, Mapping) else {}
        hint = product.get("x-catalog", []) if isinstance(product, Mapping) else []
        if isinstance(hint, list):
            entries.extend(hint)
    # Catalogs repeat on every turn of a conversation; parsing and indexing them once is enough.
    return _build_catalog(json.dumps(entries, sort_keys=True, default=str))


@lru_cache(maxsize=32)
def _build_catalog(entries_json: str) -> Catalog:
    products: dict[str, Product] = {}
    names: tuple[str, ...]
    for entry in json.loads(entries_json):
        if isinstance(entry, str):
            # A bare name is its own SKU; tolerated so that a simpler hint still works.
            sku, names = entry.strip(), (entry.strip(),)
        elif isinstance(entry, Mapping):
            sku = str(entry.get("sku", "")).strip()
            names = tuple(str(name) for name in entry.get("names", ()) if str(name).strip())
        else:
            continue
        if sku and names and sku not in products:
            products[sku] = Product(sku=sku, name=names[0], names=names)
    return Catalog(tuple(products.values()))
