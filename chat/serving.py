"""Serving one metered chat turn over HTTP, whichever API's format it is written in.

`/api/chat/` and the OpenAI-compatible `/v1/chat/completions` differ only in how a turn reads
on the wire (a `Wire`); what happens around it is the same code: the `Idempotency-Key`
(a retry replays the first answer, uncharged), a place among the chats in flight, the charge
(`pipeline.begin`), the answer in one piece or as a stream, and on any failure the key released
(the pipeline refunds).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from billing.selectors import balance_of
from chat import idempotency, inflight, pipeline
from chat.models import IdempotencyKey
from chat.streaming import event_stream, in_thread
from core.db import release_connections
from providers.types import TextDelta

log = logging.getLogger(__name__)
T = TypeVar("T")

# The header in the OpenAPI document, for every view that serves turns.
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Retrying with the same key returns the first answer, uncharged.",
)


@dataclass(frozen=True)
class Wire(Generic[T]):
    """How one API writes a turn. ``body`` is the whole answer's JSON, stored for replays; a
    stream is ``opening``, a ``delta`` per piece of text, then ``closing`` (made from the
    body, so a replayed stream ends as the first did), or ``failure`` (the error and the
    balance after the refund). ``headers`` go on a plain response."""

    body: Callable[[pipeline.Turn, pipeline.Answer], dict[str, Any]]
    opening: Callable[[pipeline.Turn], Iterator[T]]
    delta: Callable[[pipeline.Turn, str], T]
    closing: Callable[[dict[str, Any]], Iterator[T]]
    replay: Callable[[dict[str, Any]], Iterator[T]]
    failure: Callable[[BaseException, int], T]
    headers: Callable[[dict[str, Any]], dict[str, str]] = lambda body: {}


def serve(
    request: Request,
    *,
    begin: Callable[[], pipeline.Turn],
    stream: bool,
    wire: Wire[bytes],
) -> Response | StreamingHttpResponse:
    """Charge and answer one turn (``begin`` validates and charges) as ``wire`` writes it."""
    claim = _claim(request)
    if isinstance(claim, idempotency.Replay):
        response: Response | StreamingHttpResponse
        if stream:
            response = event_stream(wire.replay(claim.body))
        else:
            response = Response(claim.body, status=claim.status, headers=wire.headers(claim.body))
        response["Idempotent-Replayed"] = "true"
        return response
    try:
        slot = inflight.take()
    except BaseException:
        if claim is not None:
            idempotency.release(claim)
        raise
    streaming = False
    try:
        turn = begin()
        if stream:
            streaming = True
            return _stream(request, turn, claim, slot, wire)
        body = wire.body(turn, pipeline.answer(turn))
    except BaseException:
        if claim is not None:
            idempotency.release(claim)
        raise
    finally:
        if not streaming:
            slot.release()
    if claim is not None:
        idempotency.complete(claim, status=200, body=body)
    return Response(body, headers=wire.headers(body))


def _claim(request: Request) -> IdempotencyKey | idempotency.Replay | None:
    user: User = request.user  # type: ignore[assignment]
    key = request.headers.get("Idempotency-Key")
    return claim_key(user, key, request.data, field="Idempotency-Key")


def claim_key(
    user: User, key: Any, payload: Any, *, field: str = "idempotency_key"
) -> IdempotencyKey | idempotency.Replay | None:
    """`idempotency.claim` for a key a client may have sent (checked, named ``field`` in the
    error), or ``None`` without one."""
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 255:
        raise ValidationError({field: ["Must be 1 to 255 characters."]})
    return idempotency.claim(user=user, key=key, payload=payload)


def events(
    turn: pipeline.Turn, claim: IdempotencyKey | None, slot: inflight.Slot, wire: Wire[T]
) -> Iterator[T]:
    """A charged turn's stream as ``wire`` writes it; completes or releases ``claim`` and
    gives ``slot`` back when it ends."""
    try:
        opened = answered = False
        for event in pipeline.answer_stream(turn):
            # Opened inside the loop: a client gone by then leaves the answer still
            # produced and stored (`pipeline.answer_stream`), not pending until refunded.
            if not opened:
                opened = True
                yield from wire.opening(turn)
            if isinstance(event, TextDelta):
                yield wire.delta(turn, event.text)
            else:
                answered = True
                body = wire.body(turn, event)
                if claim is not None:
                    idempotency.complete(claim, status=200, body=body)
                yield from wire.closing(body)
    except Exception as exc:  # refunded by the pipeline; tell the client why
        if claim is not None:
            idempotency.release(claim)
        if answered:  # not the pipeline's failure (it logs and refunds those): ours
            log.exception("chat turn %s was answered but not sent", turn.reference)
        yield wire.failure(exc, balance_of(user=turn.user))
    finally:
        slot.release()


def _stream(
    request: Request,
    turn: pipeline.Turn,
    claim: IdempotencyKey | None,
    slot: inflight.Slot,
    wire: Wire[bytes],
) -> StreamingHttpResponse:
    stream = events(turn, claim, slot, wire)
    # A stream the server never starts (its client left first) never runs its `finally`.
    weakref.finalize(stream, slot.release)
    # The events are produced in another thread (ASGI) or later: this one's connection
    # goes back now rather than when the response is closed.
    release_connections()
    if isinstance(request._request, ASGIRequest):
        return event_stream(in_thread(stream))
    return event_stream(stream)
