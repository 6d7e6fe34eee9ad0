"""The shop's products as the order tools describe them, and finding them in what people say."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from providers import semantic
from providers.text import STOPWORDS, stem, words
from providers.types import ToolSpec

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
    """One orderable product: its SKU, its display name, every way to say it, what it is."""

    sku: str
    name: str
    names: tuple[str, ...]
    description: str = ""


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
    _parts: frozenset[str] = frozenset()
    longest: int = 0
    generic: frozenset[str] = frozenset()
    # Which products each word of their names belongs to ("pineappl" -> the Hawaiian's SKU).
    owners: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _descriptions: list[tuple[str, ...]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        shared: dict[str, set[str]] = {}
        for product in self.products:
            for name in product.names:
                key = tuple(stem(word) for word in words(name))
                if not key:
                    continue
                # The first product to claim an alias keeps it: the catalog lists names first.
                self._index.setdefault(key, product.sku)
                if len(key) > 1:  # "cocacola" and "icecream" are typed as one word, too
                    self._index.setdefault((stem("".join(words(name))),), product.sku)
                self.longest = max(self.longest, len(key))
                for part in key:
                    shared.setdefault(part, set()).add(product.sku)
        self._parts = frozenset(shared)
        self.owners = {part: frozenset(skus) for part, skus in shared.items()}
        self._vocabulary = sorted(
            part for part in shared if len(part) >= _FUZZY_MIN_LENGTH - 1 and part.isalpha()
        )
        # A word in several products' names ("pizza") names a category, not a product.
        self.generic = frozenset(part for part, skus in shared.items() if len(skus) > 1)

    def __bool__(self) -> bool:
        return bool(self.products)

    def product(self, sku: str) -> Product | None:
        return next((product for product in self.products if product.sku == sku), None)

    def sku_named(self, name: str) -> str | None:
        """The SKU of the product whose display name is exactly ``name``."""
        return next((p.sku for p in self.products if p.name == name), None)

    def described_as(self, phrase: Sequence[str]) -> list[str]:
        """The SKUs whose description holds the stems of ``phrase`` in a row ("dairi free")."""
        if not phrase:
            return []
        if self._descriptions is None:
            self._descriptions = [
                tuple(stem(w) for w in words(p.description)) for p in self.products
            ]
        size = len(phrase)
        wanted = tuple(phrase)
        return [
            product.sku
            for product, described in zip(self.products, self._descriptions, strict=True)
            if any(described[i : i + size] == wanted for i in range(len(described) - size + 1))
        ]

    def similarities(self, text: str) -> np.ndarray:
        """How near ``text`` is in meaning to each product (name, aliases and description)."""
        if self._vectors is None:
            self._vectors = semantic.embed(
                [" ".join([*p.names, p.description]) for p in self.products]
            )
        return np.asarray(self._vectors @ semantic.embed([text])[0])

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
        close = difflib.get_close_matches(stemmed, self._vocabulary, n=1, cutoff=_FUZZY_CUTOFF)
        return close[0] if close else stemmed


def catalog_from_tools(tools: Sequence[ToolSpec]) -> Catalog:
    """The products listed in the order tools' ``x-catalog`` hints (empty when there are none)."""
    entries: list[Any] = []
    for tool in tools:
        if tool.name not in CATALOG_TOOLS:
            continue
        properties = tool.parameters.get("properties", {})
        product = properties.get("product", {}) if isinstance(properties, Mapping) else {}
        hint = product.get("x-catalog", []) if isinstance(product, Mapping) else []
        if isinstance(hint, list):
            entries.extend(hint)
    return _catalog(json.dumps(entries, sort_keys=True, default=str))


# Every chat brings the same catalog: indexing it again each time measured ~9% of a chat's CPU.
@functools.lru_cache(maxsize=8)
def _catalog(entries_json: str) -> Catalog:
    products: dict[str, Product] = {}
    names: tuple[str, ...]
    for entry in json.loads(entries_json):
        if isinstance(entry, str):
            # A bare name is its own SKU; tolerated so that a simpler hint still works.
            sku, names, description = entry.strip(), (entry.strip(),), ""
        elif isinstance(entry, Mapping):
            sku = str(entry.get("sku", "")).strip()
            names = tuple(str(name) for name in entry.get("names", ()) if str(name).strip())
            description = str(entry.get("description") or "")
        else:
            continue
        if sku and names and sku not in products:
            products[sku] = Product(sku=sku, name=names[0], names=names, description=description)
    return Catalog(tuple(products.values()))
