"""The OpenAI-compatible API: `/v1/models` and `/v1/chat/completions`, metered like `/api/chat/`.

A completion is a chat turn like any other (`chat.serving`): the same charge and refund, ledger
entries, request log, throttle and `Idempotency-Key`; only its wire format differs (`compat.wire`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import TokenAuthentication
from accounts.models import User
from chat import pipeline, serving
from chat.throttling import ChatRateThrottle
from compat import wire
from compat.authentication import BearerTokenAuthentication
from compat.exceptions import openai_error, openai_exception_handler
from compat.serializers import (
    ChatCompletionInput,
    ChatCompletionOutput,
    ModelListOutput,
    ModelOutput,
    OpenAIErrorOutput,
)
from core.client_ip import client_ip
from core.errors import error_body

STREAM_DESCRIPTION = (
    'With `"stream": true` the answer is a stream of `data: {chunk}` lines '
    "(`chat.completion.chunk` objects, the last one carrying `tally`), then `data: [DONE]`; "
    'with `"stream_options": {"include_usage": true}` a chunk with no choices and the `usage` '
    'comes just before `[DONE]`. A failure midway is one `data: {"error": {…}}` line; the '
    "call was refunded."
)


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(OpenAIErrorOutput, description="OpenAI's error shape.")
        for code in statuses
    }


class OpenAIView(APIView):
    """Bearer tokens (and Tally's own `Token` prefix), errors in OpenAI's shape."""

    authentication_classes = (BearerTokenAuthentication, TokenAuthentication)

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return openai_exception_handler


class ModelList(OpenAIView):
    @extend_schema(
        tags=["openai"],
        operation_id="openai_models_list",
        responses={200: ModelListOutput, **_errors(401)},
        description="`tally-assistant` (the shop assistant, with documents, memories and "
        "orders), then every allow-listed provider model as `<provider>/<model>`.",
    )
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": wire.models()})


class ModelDetail(OpenAIView):
    @extend_schema(
        tags=["openai"],
        operation_id="openai_models_retrieve",
        responses={200: ModelOutput, **_errors(401, 404)},
    )
    def get(self, request: Request, model: str) -> Response:
        choice = wire.choose(model)
        return Response(next(m for m in wire.models() if m["id"] == choice.id))


class ChatCompletions(OpenAIView):
    throttle_classes = (ChatRateThrottle,)

    @extend_schema(
        tags=["openai"],
        operation_id="openai_chat_completions_create",
        request=ChatCompletionInput,
        parameters=[serving.IDEMPOTENCY_KEY],
        responses={
            (200, "application/json"): ChatCompletionOutput,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description=STREAM_DESCRIPTION
            ),
            **_errors(400, 401, 404, 409, 415, 422, 429, 502, 503, 504),
        },
        description="A chat completion, charged the model's price like `/api/chat/` and "
        "refunded if the model fails. `tally-assistant` answers as the shop assistant; a "
        "`<provider>/<model>` gets the messages, tools and parameters as they are, and its tool "
        "calls come back to the client. The `Tally-Usage` header (and `tally.usage_counted`) "
        "says whether `usage` is the model server's (`reported`) or Tally's count (`counted`). "
        + STREAM_DESCRIPTION,
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        parsed = wire.parse(request.data)

        def begin() -> pipeline.Turn:
            return pipeline.begin(
                user=cast(User, request.user),
                text=parsed.messages[-1].content,
                provider=parsed.choice.provider,
                model=parsed.choice.model,
                client_ip=client_ip(request) or None,
                streamed=parsed.stream,
                messages=parsed.messages,
                plain=parsed.choice.plain,
                tools=parsed.tools,
                options=parsed.options,
            )

        return serving.serve(request, begin=begin, stream=parsed.stream, wire=_wire(parsed))


def _wire(parsed: wire.Parsed) -> serving.Wire:
    """How `parsed` is answered: a completion, or chunks (with the usage chunk if asked)."""
    created = int(time.time())

    def body(turn: pipeline.Turn, answer: pipeline.Answer) -> dict[str, Any]:
        id_ = wire.completion_id(turn.reference)
        return wire.body(answer, choice=parsed.choice, id_=id_, created=created)

    def model(turn: pipeline.Turn) -> str:
        return f"{turn.provider}/{turn.model}" if parsed.choice.plain else wire.ASSISTANT

    def opening(turn: pipeline.Turn) -> Iterator[bytes]:
        id_ = wire.completion_id(turn.reference)
        yield wire.sse(wire.chunk(model(turn), id_, created, {"role": "assistant", "content": ""}))

    def delta(turn: pipeline.Turn, text: str) -> bytes:
        id_ = wire.completion_id(turn.reference)
        return wire.sse(wire.chunk(model(turn), id_, created, {"content": text}))

    def closing(completion: dict[str, Any]) -> Iterator[bytes]:
        for chunk in wire.closing_chunks(completion, include_usage=parsed.include_usage):
            yield wire.sse(chunk)
        yield wire.sse("[DONE]")

    def replay(completion: dict[str, Any]) -> Iterator[bytes]:
        id_, model_ = completion["id"], completion["model"]
        message = completion["choices"][0]["message"]
        yield wire.sse(wire.chunk(model_, id_, completion["created"], {"role": "assistant"}))
        if message.get("content"):
            content = {"content": message["content"]}
            yield wire.sse(wire.chunk(model_, id_, completion["created"], content))
        yield from closing(completion)

    def failure(exc: BaseException, balance: int) -> bytes:
        _, error = openai_error(*error_body(exc))
        error["error"]["tokens_remaining"] = balance
        return wire.sse(error)

    def headers(completion: dict[str, Any]) -> dict[str, str]:
        return {"Tally-Usage": "counted" if completion["tally"]["usage_counted"] else "reported"}

    return serving.Wire(
        body=body,
        opening=opening,
        delta=delta,
        closing=closing,
        replay=replay,
        failure=failure,
        headers=headers,
    )
