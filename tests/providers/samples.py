"""Sample prompts, tool specs and credentials shared by the provider tests."""

from __future__ import annotations

import json
from typing import Any

from providers.types import Message, Passage, Prompt, ToolSpec

OPENAI_KEY = "sk-test-openai"
GEMINI_KEY = "gemini-test-key"

ADD_ITEM = ToolSpec(
    name="add_item",
    description="Add a product to the caller's draft order.",
    parameters={
        "type": "object",
        "properties": {
            "product": {"type": "string", "x-catalog": ["margherita", "coke"]},
            "quantity": {"type": "integer", "minimum": 1},
        },
        "required": ["product"],
        "x-intent": "order",
    },
)
QUESTION = Prompt(
    system="You are Tally's shop assistant.",
    messages=[Message("user", "When do you open?")],
    passages=[Passage(source="hours.md", text="We open at 9 every day.")],
)
ORDER = [Message("user", "2 margheritas please")]
# QUESTION's passages as the vendor model reads them: quoted JSON data, not instructions.
QUOTED_HOURS = [
    {"number": 1, "source": "hours.md", "kind": "shop document", "text": "We open at 9 every day."}
]


def unquote_passages(block: str) -> Any:
    """The JSON inside a passages block, which must be the whole of ``block``."""
    assert block.startswith("<passages>\n") and block.endswith("\n</passages>")
    assert block.count("</passages>") == 1
    return json.loads(block.removeprefix("<passages>").removesuffix("</passages>"))
