"""How the offline assistant picks its move: relay tool results, recall, note or recall a fact,
chat, order or quote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from providers.types import Message, Prompt

from .answers import answer_from_passages
from .catalog import catalog_from_tools
from .facts import asked_topic, fact_reply, remember_reply
from .intents import plan_order_calls
from .items import PlannedCall
from .recall import is_recall_question, recall
from .relay import relay_tool_results
from .smalltalk import dont_know_reply, help_reply, smalltalk_reply
from .state import DialogueState


@dataclass(frozen=True)
class Reply:
    """What to answer: text, or tool calls for the caller to run and feed back."""

    text: str = ""
    calls: tuple[PlannedCall, ...] = ()


def respond(prompt: Prompt) -> Reply:
    """Decide the reply to the last user message of ``prompt``; earlier turns are history."""
    messages = list(prompt.messages)
    last_user = _last_index(messages, "user")
    catalog = catalog_from_tools(prompt.tools)
    # The first and last products make an order example that reads like a real order.
    examples = list(dict.fromkeys(p.name for p in catalog.products[:1] + catalog.products[-1:]))
    can_order = any(tool.name == "add_to_order" for tool in prompt.tools)
    if last_user is None:
        return Reply(help_reply(examples, can_order=can_order))
    # Tool results after the user's message mean this is the loop's second step: answer with
    # them rather than calling tools again, which could loop forever.
    results = [m for m in messages[last_user + 1 :] if m.role == "tool"]
    if results:
        return Reply(relay_tool_results(results))
    text = messages[last_user].content
    if is_recall_question(text):
        return Reply(recall(text, messages[: last_user + 1], prompt.passages))
    noted = remember_reply(text)
    if noted is not None:
        return Reply(noted)
    topic = asked_topic(text)
    if topic is not None:
        return Reply(fact_reply(topic, messages[:last_user], prompt.passages))
    chat = smalltalk_reply(text, examples, can_order=can_order)
    if chat is not None:
        return Reply(chat)
    state = DialogueState(catalog, prompt.passages, messages[:last_user])
    calls = plan_order_calls(
        text, prompt.tools, previous_reply=_previous_reply(messages[:last_user]), state=state
    )
    if calls:
        return Reply(calls=tuple(calls))
    answer = answer_from_passages(text, prompt.passages)
    return Reply(answer or dont_know_reply(examples, can_order=can_order))


def _last_index(messages: Sequence[Message], role: str) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == role:
            return index
    return None


def _previous_reply(messages: Sequence[Message]) -> str:
    """The assistant's last words before the user's message (tool-call turns carry none)."""
    for message in reversed(messages):
        if message.role == "assistant" and message.content:
            return message.content
    return ""
