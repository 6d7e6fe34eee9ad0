"""What a chat costs under `CHAT_PRICING=usage`: a hold before the model is asked, the most
the turn can cost, and the settled cost after, from the usage the model reported.

Rates are tokens of credit per 1,000 model tokens, prompt and completion apart (`CHAT_RATES`,
else `CHAT_RATE_DEFAULT`). The hold counts the prompt the model will be sent (with the
provider's own token counter) and `LLM_MAX_OUTPUT_TOKENS`, for every round the turn may take:
each tool round sends the prompt again, grown by the model's call and the tool's result. A
settled cost never exceeds its hold: the user is never charged more than was held.
"""

from __future__ import annotations

import math

from django.conf import settings

from providers import registry
from providers.types import Completion, Prompt, Usage

# What one tool round may add to the prompt besides the model's own call: the tool's JSON
# result (an order summary, a search's answer) is a few hundred tokens.
TOOL_RESULT_TOKENS = 500


def cost(provider: str, model: str, usage: Usage) -> int:
    """Tokens of credit for ``usage`` at the model's rates, rounded up."""
    prompt_rate, completion_rate = registry.rates(provider, model)
    spent = usage.prompt_tokens * prompt_rate + usage.completion_tokens * completion_rate
    return math.ceil(spent / 1000)


def hold(provider: str, model: str, prompt: Prompt, *, rounds: int) -> int:
    """The most a turn sending ``prompt`` for up to ``rounds`` rounds can cost (at least 1)."""
    empty = Completion(text="", provider=provider, model=model)
    sent = registry.get(provider).count_usage(prompt, empty).prompt_tokens
    most = settings.LLM_MAX_OUTPUT_TOKENS
    total = 0
    for round_ in range(rounds):
        grown = sent + round_ * (most + TOOL_RESULT_TOKENS)
        total += cost(provider, model, Usage(prompt_tokens=grown, completion_tokens=most))
    return max(total, 1)
