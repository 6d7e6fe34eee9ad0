"""What the model is given for a chat turn: instructions, recent history, retrieved passages
and the tools it may call.

This is the one seam the retrieval and orders apps plug into: `PASSAGE_SOURCES` gather
passages, `TOOLBOXES` offer tools and run the calls the model makes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection

from chat.models import Message as StoredMessage
from core import statements
from orders.catalog import passages_for as orders_context
from orders.tools import OrderToolbox
from providers import registry
from providers.types import Message, Options, Passage, Prompt, Role, ToolCall, ToolSpec
from retrieval.selectors import passages_for as retrieval_passages

SYSTEM_PROMPT = (
    "You are Tally, the shop assistant. Answer from the context passages when they are "
    "relevant and name the document you used; say so when they do not contain the answer. "
    "Place, change, show, confirm or cancel orders only by calling the order tools, and relay "
    "what the tools answer. Call confirm_order only when the customer's own latest message asks "
    "to place the order. Be brief and friendly."
)


class Toolbox(Protocol):
    """Tools offered to the model for one user, and the server-side code that runs them."""

    def specs(self) -> Sequence[ToolSpec]: ...

    def execute(self, call: ToolCall) -> Mapping[str, Any]:
        """Run one call; the result is JSON with a human `message` the model can relay."""
        ...


# (user, message, id of the conversation it belongs to, if any) -> passages
PassageSource = Callable[[AbstractBaseUser, str, int | None], Sequence[Passage]]
# (user, the user's own message of this turn) -> toolbox. Tools that act only on the user's
# word (placing an order) check that message, never passages, history or the model's text.
ToolboxFactory = Callable[[AbstractBaseUser, str], Toolbox]


def _knowledge(user: AbstractBaseUser, text: str, conversation_id: int | None) -> list[Passage]:
    # This conversation's own exchanges are already in the history: no need to recall them.
    return retrieval_passages(user, text, exclude_conversation=conversation_id)


def _catalog(user: AbstractBaseUser, text: str, conversation_id: int | None) -> list[Passage]:
    return orders_context(user, text)


PASSAGE_SOURCES: list[PassageSource] = [_knowledge, _catalog]
TOOLBOXES: list[ToolboxFactory] = [OrderToolbox]


@dataclass
class Context:
    prompt: Prompt
    toolboxes: list[Toolbox] = field(default_factory=list)

    def execute(self, call: ToolCall) -> Mapping[str, Any]:
        for toolbox in self.toolboxes:
            if any(spec.name == call.name for spec in toolbox.specs()):
                return toolbox.execute(call)
        return {"ok": False, "message": f"There is no tool called {call.name!r}."}


def history(conversation_id: int | None, provider: str | None = None) -> list[Message]:
    """The last `CHAT_HISTORY_MESSAGES` answered turns, oldest first, within the token budget
    as ``provider`` (default: the deployment's) counts tokens."""
    if conversation_id is None:
        return []
    rows = statements.fetch(
        _history_select(connection.vendor), [conversation_id, settings.CHAT_HISTORY_MESSAGES]
    )
    return _recent(
        [Message(role=cast(Role, role), content=content) for role, content in rows], provider
    )


def _recent(newest_first: Sequence[Message], provider: str | None) -> list[Message]:
    """The newest turns within `CHAT_HISTORY_TOKEN_BUDGET` as ``provider`` counts tokens,
    oldest first."""
    budget = settings.CHAT_HISTORY_TOKEN_BUDGET
    count_tokens = registry.get(provider or settings.LLM_PROVIDER).count_tokens
    kept: list[Message] = []
    for message in newest_first:  # so the oldest are the ones dropped
        budget -= count_tokens(message.content)
        if budget < 0:
            break
        kept.append(message)
    kept.reverse()
    return kept


@functools.cache
def _history_select(vendor: str) -> str:
    """(role, content) of a conversation's answered messages, newest first, up to a limit
    (see `core.statements`; ``vendor`` keys the cache, since quoting is the backend's; the
    status is written in: see `statements.literal`)."""
    role, content, conversation, status, id_ = (
        statements.column(StoredMessage, name)
        for name in ("role", "content", "conversation_id", "status", "id")
    )
    return (
        f"SELECT {role}, {content} FROM {statements.table(StoredMessage)} "  # noqa: S608
        f"WHERE {conversation} = %s AND {status} = {statements.literal(StoredMessage.Status.OK)} "
        f"ORDER BY {id_} DESC LIMIT %s"
    )


def build(
    *,
    user: AbstractBaseUser,
    conversation_id: int | None,
    text: str,
    provider: str | None = None,
    messages: Sequence[Message] | None = None,
    options: Options = Options(),  # noqa: B008 - frozen, so one shared default is safe
) -> Context:
    """The prompt for ``text``; ``provider`` (the turn's) counts the history's tokens.

    ``messages``, when given, is the conversation as the client keeps it (ending with
    ``text``), in place of the stored history (the OpenAI-compatible endpoint's); its system
    turns are kept, its other turns held to the stored history's limits.
    """
    passages = [p for source in PASSAGE_SOURCES for p in source(user, text, conversation_id)]
    toolboxes = [factory(user, text) for factory in TOOLBOXES]
    if messages is None:
        messages = [*history(conversation_id, provider), Message(role="user", content=text)]
    else:  # the client's history, held to the same limits as the stored one
        *earlier, latest = messages
        system = [m for m in earlier if m.role == "system"]
        turns = [m for m in earlier if m.role != "system"][::-1][: settings.CHAT_HISTORY_MESSAGES]
        messages = [*system, *_recent(turns, provider), latest]
    prompt = Prompt(
        system=SYSTEM_PROMPT,
        messages=messages,
        passages=passages,
        tools=[spec for toolbox in toolboxes for spec in toolbox.specs()],
        options=options,
    )
    return Context(prompt=prompt, toolboxes=toolboxes)
