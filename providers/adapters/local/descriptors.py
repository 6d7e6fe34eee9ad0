"""Products named by what they are rather than what they are called ("the pineapple pizza",
"one vegetarian", "the coffee dessert"), found only where one product clearly fits.

Exact names come first (`Catalog.mentions`); what is left after an article or a count is
matched by the words of one product's names, then by a phrase of one product's description,
then by meaning (`providers.semantic`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from providers.text import STOPWORDS

from .catalog import Catalog, Mention
from .items import CUES, SEPARATORS
from .numbers import quantity_ending_at

# Words after which a noun phrase names something wanted ("ONE vegetarian", "THE vegan one").
_DETERMINERS = frozenset("a an the one some another".split())
# Words that end a description: clause breaks, and notes for the kitchen ("with extra basil").
_ENDS = SEPARATORS | frozenset(
    "and or but then plus also with without no please thanks instead for to from in on".split()
)
# Words in a description that say nothing about which product it is.
_FILLERS = frozenset(
    "one ones please too as well thing things kind sort of same again more order orders cart "
    "basket menu total bill".split()
)
# A description matched by meaning alone must be this near the product and this much nearer
# than to the next one: "a dessert" fits two desserts, "the coffee dessert" only one.
SEMANTIC_MIN = 0.5
SEMANTIC_MARGIN = 0.15


def descriptor_mentions(
    tokens: Sequence[str], stems: Sequence[str], mentions: Sequence[Mention], catalog: Catalog
) -> list[Mention]:
    """Descriptions in ``tokens`` outside the exact ``mentions``, each that one product fits."""
    if not catalog:
        return []
    inside = {index for mention in mentions for index in range(mention.start, mention.end)}
    found: list[Mention] = []
    index = 0
    while index < len(tokens):
        if index in inside or not _opens(tokens, index):
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(tokens) and end not in inside and tokens[end] not in _ENDS:
            if (tokens[end],) in CUES:
                break
            end += 1
        if end in inside:  # "two chocolate ice creams": words before a name qualify it
            index = end
            continue
        sku = _product_described(tokens[start:end], stems[start:end], catalog)
        if sku is not None:
            found.append(Mention(start, end, sku))
        index = max(end, index + 1)
    return found


def _opens(tokens: Sequence[str], index: int) -> bool:
    """Whether a description may follow ``tokens[index]``: an article or a count."""
    if tokens[index] in _DETERMINERS:
        return True
    return quantity_ending_at(tokens, index + 1, index) is not None


def _product_described(tokens: Sequence[str], stems: Sequence[str], catalog: Catalog) -> str | None:
    kept = [
        (token, stemmed)
        for token, stemmed in zip(tokens, stems, strict=True)
        if token not in STOPWORDS and token not in _FILLERS and token.isalpha()
    ]
    if not kept:
        return None
    # Words of product names first: "pineapple pizza" -> the one product called "ham and
    # pineapple" (a word in several products' names, like "pizza", only narrows nothing).
    owners = [catalog.owners[stemmed] for _, stemmed in kept if stemmed in catalog.owners]
    specific = [skus for skus in owners if len(skus) == 1]
    if specific:
        common = frozenset.intersection(*specific)
        return next(iter(common)) if len(common) == 1 else None
    # Then what one description alone says: "the dairy-free pizza" (a category word aside).
    phrase = [stemmed for _, stemmed in kept if stemmed not in catalog.generic]
    described = catalog.described_as(phrase)
    if len(described) == 1:
        return described[0]
    scores = catalog.similarities(" ".join(token for token, _ in kept))
    if len(scores) == 0:
        return None
    order = np.argsort(-scores)
    best = float(scores[order[0]])
    runner_up = float(scores[order[1]]) if len(order) > 1 else 0.0
    if best >= SEMANTIC_MIN and best - runner_up >= SEMANTIC_MARGIN:
        return catalog.products[int(order[0])].sku
    return None
