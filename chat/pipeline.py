"""The life of a chat request: charge, build the context, ask the model (running the tools it
calls), store the answer, or refund.

`begin` does everything that can be refused cheaply (a bad model, a foreign conversation, an
empty wallet) and charges; `answer` and `answer_stream` then call the model outside any
transaction and end in exactly one of `_finish` (answer stored) or `_fail` (refund stored).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from billing import services as billing
from billing.selectors import balance_of
from chat import context as chat_context
from chat import pricing
from chat.exceptions import ConversationNotFound, TurnExpired, UnsupportedParameter
from chat.models import Conversation, Message, RequestLog
from chat.tasks import remember_later
from core import statements
from core.db import release_connections
from core.errors import error_body
from providers import registry
from providers.exceptions import ProviderError, ProviderUnavailable
from providers.types import Completion, Options, Prompt, TextDelta, ToolCall, ToolSpec, Usage
from providers.types import Message as PromptMessage

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """A charged chat turn in flight."""

    user: AbstractBaseUser
    text: str
    conversation_id: int
    question_id: int
    provider: str
    model: str
    charged: int
    reference: str
    client_ip: str | None
    streamed: bool
    balance: int  # right after the charge; what the answer reports as `tokens_remaining`
    started: float = field(default_factory=time.monotonic)
    # The OpenAI-compatible endpoint's: the client's own conversation (ending with `text`)
    # instead of the stored history; with `plain`, only that goes to the model (no instructions,
    # passages or order tools) with the client's `tools`, whose calls go back to the client.
    messages: tuple[PromptMessage, ...] | None = None
    plain: bool = False
    tools: tuple[ToolSpec, ...] = ()
    options: Options = Options()
    # Under usage pricing the context is built before the charge, to price the hold.
    context: chat_context.Context | None = None


@dataclass(frozen=True)
class Answer:
    """A finished turn; `chat.serializers.ChatOutput` makes the API's response body of it (the
    `done` event of a stream, too)."""

    message: str
    response: str
    conversation: int
    message_id: int
    tokens_charged: int
    tokens_remaining: int
    source: str
    provider: str
    model: str
    sources: list[dict[str, Any]]
    usage: dict[str, int]
    order: dict[str, Any] | None = None
    # The OpenAI-compatible endpoint's: a plain turn's tool calls, for the client to run, and
    # why the model stopped. (A `/api/chat/` turn runs its tools itself.)
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"


def _title(text: str) -> str:
    words = " ".join(text.split())
    if len(words) <= 60:
        return words
    return words[:60].rsplit(" ", 1)[0] + "…"


def begin(
    *,
    user: AbstractBaseUser,
    text: str,
    conversation_id: int | None = None,
    provider: str | None = None,
    model: str | None = None,
    client_ip: str | None = None,
    streamed: bool = False,
    messages: Sequence[PromptMessage] | None = None,
    plain: bool = False,
    tools: Sequence[ToolSpec] = (),
    options: Options = Options(),  # noqa: B008 - frozen, so one shared default is safe
) -> Turn:
    """Validate the choice of model and conversation, then charge and store the question.

    Raises `ModelNotAllowed`, `UnsupportedParameter`, `ConversationNotFound` or
    `InsufficientTokens` with nothing written. The charge, the conversation (new, or marked
    active) and the question commit together. See `Turn` for ``messages``, ``plain`` and
    ``tools``.
    """
    chosen, model_name = registry.resolve(provider, model)
    priced = f"{chosen.name}/{model_name}"
    if (parameter := chosen.unsupported(options, tools)) is not None:
        raise UnsupportedParameter(
            f"{chosen.name}/{model_name} does not support {parameter!r}.", parameter=parameter
        )
    context = None
    if settings.CHAT_PRICING == "usage":
        context = _context(
            user=user,
            text=text,
            conversation_id=conversation_id,
            provider=chosen.name,
            messages=messages,
            plain=plain,
            tools=tools,
            options=options,
        )
        rounds = 1 if plain else settings.CHAT_MAX_TOOL_ROUNDS + 1
        cost = pricing.hold(chosen.name, model_name, context.prompt, rounds=rounds)
    else:
        cost = registry.price(chosen.name, model_name)
    reference = f"chat:{uuid.uuid4().hex}"
    # Made before the transaction: every writer of the database waits while it is open.
    question = Message(
        role=Message.Role.USER,
        content=text,
        provider=chosen.name,
        model=model_name,
        tokens_charged=cost,
        client_ip=client_ip,
        status=Message.Status.PENDING,
        reference=reference,  # pairs the question with its charge (and refund) in the ledger
    )
    with transaction.atomic():
        if conversation_id is None:
            new = Conversation(user_id=user.pk, title=_title(text))
            conversation_id = statements.insert(new).pk
        elif not statements.update(
            Conversation, {"id": conversation_id, "user_id": user.pk}, updated_at=timezone.now()
        ):  # someone else's conversation, or none: the same answer, so ids reveal nothing
            raise ConversationNotFound(f"Conversation {conversation_id} not found.")
        charge = (
            billing.charge(user=user, amount=cost, reference=reference, model=priced)
            if cost
            else None
        )
        question.conversation_id = conversation_id
        statements.insert(question)
    return Turn(
        user=user,
        text=text,
        conversation_id=conversation_id,
        question_id=question.pk,
        provider=chosen.name,
        model=model_name,
        charged=cost,
        reference=reference,
        client_ip=client_ip,
        streamed=streamed,
        balance=charge.balance_after if charge is not None else balance_of(user=user),
        messages=tuple(messages) if messages is not None else None,
        plain=plain,
        tools=tuple(tools),
        options=options,
        context=context,
    )


def _context(
    *,
    user: AbstractBaseUser,
    text: str,
    conversation_id: int | None,
    provider: str,
    messages: Sequence[PromptMessage] | None,
    plain: bool,
    tools: Sequence[ToolSpec],
    options: Options,
) -> chat_context.Context:
    """What the model will be given: a plain model only the client's messages and tools."""
    if plain:
        prompt = Prompt(messages=tuple(messages or ()), tools=tuple(tools), options=options)
        return chat_context.Context(prompt=prompt)
    return chat_context.build(
        user=user,
        conversation_id=conversation_id,
        text=text,
        provider=provider,
        messages=messages,
        options=options,
    )


def answer(turn: Turn) -> Answer:
    """Ask the model and store its answer; on any failure refund and re-raise."""
    for event in answer_stream(turn):
        if isinstance(event, Answer):
            return event
    raise AssertionError("answer_stream ended without an answer")  # pragma: no cover


def answer_stream(turn: Turn) -> Iterator[TextDelta | Answer]:
    """Yield the answer's text as it arrives, then the stored `Answer`.

    A consumer that stops early (a client that went away) does not lose what it paid for: the
    rest of the answer is still produced and stored.
    """
    events = _produce(turn)
    try:
        # A plain loop, not `yield from`: closing us must not close (and so abort) `events`.
        for event in events:  # noqa: UP028
            yield event
    except GeneratorExit:
        try:
            for _ in events:
                pass
        except Exception:  # noqa: BLE001 - already refunded and logged by _produce
            log.info("chat turn %s failed after its client left", turn.reference)
        raise


def _produce(turn: Turn) -> Iterator[TextDelta | Answer]:
    try:
        ctx = turn.context or _context(
            user=turn.user,
            text=turn.text,
            conversation_id=turn.conversation_id,
            provider=turn.provider,
            messages=turn.messages,
            plain=turn.plain,
            tools=turn.tools,
            options=turn.options,
        )
        # A plain model's answer is the client's to sample again (its temperature, its seed).
        cached_turn = settings.CHAT_CACHE_TTL and not turn.plain
        reads, store = _cache_keys(turn, ctx.prompt) if cached_turn else ((), "")
        found = cache.get_many(reads) if reads else {}
        cached = next((found[key] for key in reads if key in found), None)
        if cached is not None:
            completion = Completion(**{**cached, "usage": Usage(**cached["usage"])})
            source, results = Message.Source.CACHE, list[Mapping[str, Any]]()
            yield TextDelta(completion.text)
        else:
            completion, results = yield from _run_tools(turn, ctx)
            source = Message.Source.PROVIDER
            # Answers that ran tools depend on more than the prompt (the order changed);
            # calls for the client to run are not an answer to replay.
            # nor is a fallback model's answer the asked model's.
            asked = completion.provider == turn.provider
            if store and asked and not results and not completion.tool_calls:
                cache.set(store, asdict(completion), timeout=settings.CHAT_CACHE_TTL)
        orders = [result["order"] for result in results if result.get("order")]
        answer = _finish(
            turn,
            completion,
            source=source,
            passages=ctx.prompt.passages,
            order=orders[-1] if orders else None,
        )
    except TurnExpired:
        raise  # refunded already, by reconcile_charges
    except BaseException as exc:
        _fail(turn, exc)
        raise
    yield answer


def _run_tools(
    turn: Turn, ctx: chat_context.Context
) -> Generator[TextDelta, None, tuple[Completion, list[Mapping[str, Any]]]]:
    """Stream rounds of the model, running its tool calls, until it answers in words.

    Returns the final completion (usage summed over every round) and the tools' results.
    """
    if turn.plain:  # the client runs its own tools
        completion = yield from _ask(turn, ctx.prompt)
        return completion, []
    messages = list(ctx.prompt.messages)
    results: list[Mapping[str, Any]] = []
    usage, counted = Usage(), False
    for round_ in range(settings.CHAT_MAX_TOOL_ROUNDS + 1):
        # On the last round the tools are withdrawn, so the model has to answer in words.
        tools = () if round_ == settings.CHAT_MAX_TOOL_ROUNDS else ctx.prompt.tools
        prompt = replace(ctx.prompt, messages=messages, tools=tools)
        release_connections()  # no connection is held while the model works
        completion = yield from _ask(turn, prompt)
        usage, counted = usage + completion.usage, counted or completion.usage_counted
        if not completion.tool_calls:
            return replace(completion, usage=usage, usage_counted=counted), results
        messages.append(
            PromptMessage(
                role="assistant", content=completion.text, tool_calls=completion.tool_calls
            )
        )
        for call in completion.tool_calls:
            result = ctx.execute(call)
            results.append(result)
            messages.append(
                PromptMessage(
                    role="tool",
                    content=json.dumps(result, default=str),
                    tool_call_id=call.id,
                    name=call.name,
                )
            )
    raise AssertionError("unreachable: the last round offers no tools")  # pragma: no cover


def _ask(turn: Turn, prompt: Prompt) -> Generator[TextDelta, None, Completion]:
    """One round of the model: streamed when the client reads a stream; otherwise asked for the
    whole answer at once, which spares the SDK parsing a stream chunk by chunk (see
    bench/README.md, "Under real model latency")."""
    # A plain model is the one the client named: no other answers in its place.
    provider, model, fallbacks = turn.provider, turn.model, not turn.plain
    if not turn.streamed:
        answer = registry.complete(prompt, provider=provider, model=model, fallbacks=fallbacks)
        return _counted(prompt, answer)
    completion: Completion | None = None
    events = registry.stream(prompt, provider=provider, model=model, fallbacks=fallbacks)
    for event in events:
        if isinstance(event, TextDelta):
            yield event
        else:
            completion = event
    if completion is None:
        raise ProviderUnavailable("The model's stream ended without a completion.")
    return _counted(prompt, completion)


def _counted(prompt: Prompt, completion: Completion) -> Completion:
    """The completion, with its usage counted by Tally when the server reported none (some
    OpenAI-compatible servers leave it out of streamed answers)."""
    if completion.usage.total_tokens:
        return completion
    usage = registry.get(completion.provider).count_usage(prompt, completion)
    return replace(completion, usage=usage, usage_counted=True)


def _cache_keys(turn: Turn, prompt: Prompt) -> tuple[tuple[str, ...], str]:
    """Where this turn may find a cached answer (in order), and where its own answer goes.

    An answer is shared by everyone only when nothing private to its user went into it: no
    memory, private document, draft order or history. Any other answer is kept under its
    user's own key, so it can never be served to someone else.

    The key leaves the user's recalled memories out (asking the same question twice would
    otherwise never hit, since the first exchange is recalled the second time), so a user
    with memories may still read a shared answer, which by construction quotes nothing
    private; one whose history, private documents or draft are in the prompt may not.
    """
    public = [p for p in prompt.passages if p.kind != "memory"]
    payload = json.dumps(
        {
            "provider": turn.provider,
            "model": turn.model,
            "prompt": asdict(replace(prompt, passages=public)),
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()
    own, shared = f"chat:answer:user:{turn.user.pk}:{digest}", f"chat:answer:shared:{digest}"
    private_in_key = len(prompt.messages) > 1 or any(p.private for p in public)
    private_in_answer = private_in_key or any(p.private for p in prompt.passages)
    reads = (own,) if private_in_key else (own, shared)
    return reads, own if private_in_answer else shared


def _finish(
    turn: Turn,
    completion: Completion,
    *,
    source: str,
    passages: Any,
    order: dict[str, Any] | None = None,
) -> Answer:
    latency_ms = int((time.monotonic() - turn.started) * 1000)
    sources = [
        {"source": p.source, "kind": p.kind, "score": round(float(p.score), 4)} for p in passages
    ]
    balance = turn.balance
    cache_refund = (
        source == Message.Source.CACHE and turn.charged and not settings.CHAT_CHARGE_CACHE_HITS
    )
    charged = 0 if cache_refund else _settled(turn, completion)
    # Made before the transaction: every writer of the database waits while it is open.
    answer = statements.Insert(
        Message(
            conversation_id=turn.conversation_id,
            role=Message.Role.ASSISTANT,
            content=completion.text,
            provider=completion.provider,
            model=completion.model,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
            source=source,
            latency_ms=latency_ms,
            client_ip=turn.client_ip,
            sources=sources,
        )
    )
    entry = _request_log(
        turn,
        status=RequestLog.Status.OK,
        completion=completion,
        source=source,
        latency_ms=latency_ms,
        charged=charged,
    )
    with transaction.atomic():
        # Only a turn still pending is answered: `reconcile_charges` may have refunded it (it
        # claims pending turns the same way), and then it must not also be recorded as paid.
        if not statements.update(
            Message,
            {"id": turn.question_id, "status": Message.Status.PENDING},
            status=Message.Status.OK,
            **({"tokens_charged": charged} if charged != turn.charged else {}),
        ):
            raise TurnExpired("The answer came too late; the chat was refunded.")
        reply = answer.run()
        entry.run()
        if cache_refund:
            balance = billing.refund(
                user=turn.user,
                amount=turn.charged,
                reference=turn.reference,
                note="cache hit",
                model=f"{turn.provider}/{turn.model}",
            ).balance_after
        elif charged < turn.charged:  # usage pricing: the hold's unused part goes back
            balance = billing.settle(
                user=turn.user,
                amount=turn.charged - charged,
                reference=turn.reference,
                model=f"{turn.provider}/{turn.model}",
            ).balance_after
    # After the response, the exchange becomes a memory only this user can recall later.
    # (A plain model's exchange is the client's own business: it is not recalled.)
    if not turn.plain:
        remember_later(question_id=turn.question_id, answer_id=reply.pk)
    return Answer(
        message=turn.text,
        response=completion.text,
        conversation=turn.conversation_id,
        message_id=reply.pk,
        tokens_charged=charged,
        tokens_remaining=balance,
        source=source,
        provider=completion.provider,
        model=completion.model,
        sources=sources,
        usage={
            "prompt_tokens": completion.usage.prompt_tokens,
            "completion_tokens": completion.usage.completion_tokens,
            "counted": completion.usage_counted,
        },
        order=order,
        tool_calls=completion.tool_calls,
        finish_reason=completion.finish_reason,
    )


def _settled(turn: Turn, completion: Completion) -> int:
    """What the turn costs in the end: its flat price, or under usage pricing the usage at the
    answering model's rates, never more than was held."""
    if settings.CHAT_PRICING != "usage" or not turn.charged:
        return turn.charged
    used = pricing.cost(completion.provider, completion.model, completion.usage)
    return min(used, turn.charged)


def _fail(turn: Turn, exc: BaseException) -> None:
    """Refund the turn and record why it failed. Never raises: the original error matters."""
    code = exc.code if isinstance(exc, ProviderError) else error_body(exc)[1]["code"]
    if not isinstance(exc, ProviderError):
        log.exception("chat turn %s failed", turn.reference, exc_info=exc)
    try:
        # The thread's connections are handed back first, so one the failure broke (the
        # database restarted) is not reused for the refund; if the database is still away,
        # `reconcile_charges` refunds the turn later.
        release_connections()
        with transaction.atomic():
            # Only a turn still pending is refunded here: `reconcile_charges` may have
            # refunded it already (it claims pending turns the same way).
            settled = statements.update(
                Message,
                {"id": turn.question_id, "status": Message.Status.PENDING},
                status=Message.Status.FAILED,
                tokens_charged=0,
            )
            if settled and turn.charged:
                billing.refund(
                    user=turn.user,
                    amount=turn.charged,
                    reference=turn.reference,
                    note=code,
                    model=f"{turn.provider}/{turn.model}",
                )
            _request_log(
                turn,
                status=RequestLog.Status.PROVIDER_ERROR,
                error_code=code,
                latency_ms=int((time.monotonic() - turn.started) * 1000),
            ).run()
    except Exception:
        log.exception("could not refund chat turn %s", turn.reference)


def _request_log(
    turn: Turn,
    *,
    status: str,
    latency_ms: int,
    completion: Completion | None = None,
    source: str = "",
    error_code: str = "",
    charged: int = 0,
) -> statements.Insert[RequestLog]:
    """The turn's request log, ready to write."""
    return statements.Insert(
        RequestLog(
            user_id=turn.user.pk,
            username=turn.user.get_username(),
            conversation_id=turn.conversation_id,
            client_ip=turn.client_ip,
            request_text=turn.text,
            response_text=completion.text if completion else "",
            provider=completion.provider if completion else turn.provider,
            model=completion.model if completion else turn.model,
            prompt_tokens=completion.usage.prompt_tokens if completion else 0,
            completion_tokens=completion.usage.completion_tokens if completion else 0,
            tokens_charged=charged,
            source=source,
            streamed=turn.streamed,
            latency_ms=latency_ms,
            status=status,
            error_code=error_code,
        )
    )
