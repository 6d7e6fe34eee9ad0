"""How a structured prompt becomes what a vendor model reads: one system text, plain turns, and
tool schemas without the offline assistant's ``x-`` hints."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from providers.types import Message, Passage, Prompt

_KIND_LABELS = {
    "document": "shop document",
    "memory": "earlier conversation",
    "catalog": "catalog",
}


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt as vendors take it: the system text, then user/assistant/tool turns only."""

    system: str
    messages: tuple[Message, ...]


def render(prompt: Prompt) -> RenderedPrompt:
    """Fold the prompt's system text, system-role turns and passages into one system text.

    Vendors differ on system turns in the middle of a conversation (Gemini has none), so every
    adapter sends them the same way: as part of the one system instruction.
    """
    parts = [prompt.system.strip()]
    parts += [m.content.strip() for m in prompt.messages if m.role == "system"]
    parts.append(context_block(prompt.passages))
    system = "\n\n".join(part for part in parts if part)
    turns = tuple(m for m in prompt.messages if m.role != "system")
    return RenderedPrompt(system=system, messages=turns)


def context_block(passages: Sequence[Passage]) -> str:
    """The passages as a numbered "Context" block naming each source, or "" when there are none."""
    if not passages:
        return ""
    lines = [
        "Context (answer from these passages when they are relevant and name the source you used):"
    ]
    for number, passage in enumerate(passages, start=1):
        label = _KIND_LABELS.get(passage.kind, passage.kind)
        lines.append(f"[{number}] source: {passage.source} ({label})\n{passage.text.strip()}")
    return "\n\n".join(lines)


def vendor_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON schema without any ``x-`` key, at any depth.

    ``x-`` keys carry hints for the offline assistant (say ``x-catalog`` on a ``product``
    property); vendors either reject unknown keywords or waste prompt tokens on them.
    """
    return {
        key: _strip_hints(item)
        for key, item in schema.items()
        if not (isinstance(key, str) and key.startswith("x-"))
    }


def _strip_hints(value: Any) -> Any:
    if isinstance(value, Mapping):
        return vendor_schema(value)
    if isinstance(value, list | tuple):
        return [_strip_hints(item) for item in value]
    return copy.deepcopy(value)
