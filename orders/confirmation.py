"""Whether the customer's own words confirm their order: the server's check behind the
`confirm_order` tool, so that no passage, memory or model text can place an order for them.

Deliberately narrow: a clause made only of confirmation words ("yes, confirm my order", "go
ahead and order it", "place the order please"), and no negation, condition or doubt anywhere
in the message ("don't confirm yet", "confirm once I add a drink"). A missed confirmation costs
the customer one more word or the Confirm button; a false one places an order they did not ask for.
"""

from __future__ import annotations

import re

# A clause confirms when one of these says so and every word of it is in `_CLAUSE_WORDS`.
_CONFIRMING = re.compile(
    r"\bconfirm(ed)?\b"
    r"|\bplace (it|them|that|this|(the |my |our |this )?order)\b"
    r"|\b(submit|finali[sz]e|complete|send) (it|(the |my |our |this )?order)\b"
    r"|\bcheck ?out\b"
    r"|\b(order|buy) (it|them|that|this)\b"
    r"|\bproceed\b"
)
_CLAUSE_WORDS = frozenset(
    # the acts and what they act on
    "confirm confirmed place submit finalise finalize complete send check checkout out order "
    "buy proceed it them that this the my our all everything "
    # the words around them in a plain yes or a polite request
    "yes yeah yep yup sure ok okay alright right please pls now go ahead i we you can could "
    "would will want to like i'd id i'll we'll let's lets just then that's thats good great "
    "perfect fine looks sounds thanks thank".split()
)
# Any of these anywhere makes the message something other than a plain confirmation.
_DOUBTS = frozenset(
    "not never dont nope wait hold stop later yet cancel cannot unless until if once when before "
    "after maybe should shall is are was were did does do has have been".split()
)
_SENTENCE = re.compile(r"[^.;!?\n]+[.;!?\n]*")
_CLAUSE_BREAK = re.compile(r"[,:]|\b(?:and|then|but|so)\b")
_POLITE_ASK = re.compile(r"\b(can|could|would|will) you\b")


def confirms_order(text: str) -> bool:
    """Whether ``text``, the customer's own message, asks to place their order now."""
    text = text.lower().replace("\u2019", "'")
    if any(word in _DOUBTS or word.endswith("n't") for word in _words(text)):
        return False
    clauses: list[list[str]] = []
    for sentence in _SENTENCE.findall(text):
        # A question confirms only as a request ("could you place my order?"), not as a
        # question about the order ("my order's confirmed?").
        asking = "?" in sentence and not _POLITE_ASK.search(sentence)
        clauses += [[] if asking else _words(part) for part in _CLAUSE_BREAK.split(sentence)]
    if any(clause[:1] == ["no"] for clause in clauses):
        return False  # "no, confirm it": a contradiction is no confirmation
    return any(
        clause and set(clause) <= _CLAUSE_WORDS and _CONFIRMING.search(" ".join(clause))
        for clause in clauses
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text)
