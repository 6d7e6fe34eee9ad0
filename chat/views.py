"""The chat API (plain JSON or Server-Sent Events) and the conversations API."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any, cast

from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from billing.selectors import balance_of
from chat import idempotency, inflight, pipeline, services
from chat.models import Conversation, IdempotencyKey, Message
from chat.serializers import (
    ChatInput,
    ChatOutput,
    ConversationOutput,
    ConversationUpdateInput,
    MessageOutput,
    StreamEventOutput,
)
from chat.streaming import in_thread, sse
from chat.throttling import ChatRateThrottle
from core.client_ip import client_ip
from core.db import release_connections
from core.errors import ServiceUnavailable, error_body, error_responses
from providers.types import TextDelta

SSE_DESCRIPTION = (
    'With `"stream": true` or `Accept: text/event-stream` the answer is a stream of '
    'Server-Sent Events: `delta` events (`{"text": …}`) as the model writes, then one `done` '
    "event carrying the same JSON as the plain response, or one `error` event "
    '(`{"detail", "code", "tokens_remaining"}`; the chat was refunded).'
)


class ChatView(APIView):
    throttle_classes = (ChatRateThrottle,)

    @extend_schema(
        tags=["chat"],
        operation_id="chat_create",
        request=ChatInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Retrying with the same key returns the first answer, uncharged.",
            )
        ],
        responses={
            (200, "application/json"): ChatOutput,
            (200, "text/event-stream"): OpenApiResponse(
                response=StreamEventOutput, description=SSE_DESCRIPTION
            ),
            **error_responses(400, 401, 402, 404, 409, 415, 422, 429, 502, 503, 504),
        },
        description="Ask the assistant; costs `CHAT_COST` tokens, refunded if the model fails. "
        + SSE_DESCRIPTION,
        examples=[
            OpenApiExample(
                "Order through conversation",
                value={"message": "Two margheritas and a coke, please"},
                request_only=True,
            ),
            OpenApiExample(
                "Answer",
                value={
                    "message": "Two margheritas and a coke, please",
                    "response": "Added 2 × Margherita. Added 1 × Coca-Cola.",
                    "conversation": 7,
                    "message_id": 42,
                    "tokens_charged": 100,
                    "tokens_remaining": 3900,
                    "source": "provider",
                    "provider": "local",
                    "model": "tally-local-1",
                    "sources": [{"source": "Menu: Margherita", "kind": "catalog", "score": 0.61}],
                    "usage": {"prompt_tokens": 1890, "completion_tokens": 41},
                    "order": {
                        "id": 3,
                        "number": 3,
                        "status": "draft",
                        "items": [
                            {
                                "sku": "PZ-MARG",
                                "name": "Margherita",
                                "quantity": 2,
                                "unit_price": "8.50",
                                "line_total": "17.00",
                                "note": "",
                            },
                            {
                                "sku": "DR-COKE",
                                "name": "Coca-Cola",
                                "quantity": 1,
                                "unit_price": "2.50",
                                "line_total": "2.50",
                                "note": "",
                            },
                        ],
                        "total": "19.50",
                        "currency": "EUR",
                        "created_at": "2026-11-23T12:00:00Z",
                        "confirmed_at": None,
                    },
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = ChatInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = cast(User, request.user)
        wants_stream = data.validated_data["stream"] or "text/event-stream" in request.headers.get(
            "Accept", ""
        )
        claim = self._claim(request, user)
        if isinstance(claim, idempotency.Replay):
            return self._replay(claim, wants_stream)
        try:
            slot = inflight.take()
        except ServiceUnavailable:
            if claim is not None:
                idempotency.release(claim)
            raise
        streaming = False
        try:
            turn = pipeline.begin(
                user=user,
                text=data.validated_data["message"],
                conversation_id=data.validated_data.get("conversation"),
                provider=data.validated_data.get("provider"),
                model=data.validated_data.get("model"),
                client_ip=client_ip(request) or None,
                streamed=wants_stream,
            )
            if wants_stream:
                streaming = True
                return self._stream(request, turn, claim, slot)
            body = ChatOutput(pipeline.answer(turn)).data
        except BaseException:
            if claim is not None:
                idempotency.release(claim)
            raise
        finally:
            if not streaming:
                slot.release()
        if claim is not None:
            idempotency.complete(claim, status=200, body=body)
        return Response(body)

    def _claim(self, request: Request, user: User) -> IdempotencyKey | idempotency.Replay | None:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not 1 <= len(key) <= 255:
            raise ValidationError({"Idempotency-Key": ["Must be 1 to 255 characters."]})
        return idempotency.claim(user=user, key=key, payload=request.data)

    def _replay(self, replay: idempotency.Replay, wants_stream: bool) -> Any:
        if not wants_stream:
            return Response(
                replay.body, status=replay.status, headers={"Idempotent-Replayed": "true"}
            )
        events = [sse("delta", {"text": replay.body.get("response", "")}), sse("done", replay.body)]
        response = _event_stream(iter(events))
        response["Idempotent-Replayed"] = "true"
        return response

    def _stream(
        self,
        request: Request,
        turn: pipeline.Turn,
        claim: IdempotencyKey | None,
        slot: inflight.Slot,
    ) -> StreamingHttpResponse:
        def events() -> Iterator[bytes]:
            try:
                for event in pipeline.answer_stream(turn):
                    if isinstance(event, TextDelta):
                        yield sse("delta", {"text": event.text})
                    else:
                        body = ChatOutput(event).data
                        if claim is not None:
                            idempotency.complete(claim, status=200, body=body)
                        yield sse("done", body)
            except Exception as exc:  # refunded by the pipeline; tell the client why
                if claim is not None:
                    idempotency.release(claim)
                _, error = error_body(exc)
                yield sse("error", {**error, "tokens_remaining": balance_of(user=turn.user)})
            finally:
                slot.release()

        stream = events()
        # A stream the server never starts (its client left first) never runs its `finally`.
        weakref.finalize(stream, slot.release)
        # The events are produced in another thread (ASGI) or later: this one's connection
        # goes back now rather than when the response is closed.
        release_connections()
        if isinstance(request._request, ASGIRequest):
            return _event_stream(in_thread(stream))
        return _event_stream(stream)


def _event_stream(content: Any) -> StreamingHttpResponse:
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through, do not buffer
    return response


class ConversationList(generics.ListAPIView):
    serializer_class = ConversationOutput

    def get_queryset(self) -> QuerySet[Conversation]:
        return Conversation.objects.filter(user_id=cast(User, self.request.user).pk)

    @extend_schema(
        tags=["chat"],
        operation_id="conversations_list",
        responses={200: ConversationOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = ConversationOutput
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Conversation]:
        return Conversation.objects.filter(user_id=cast(User, self.request.user).pk)

    @extend_schema(
        tags=["chat"],
        operation_id="conversations_retrieve",
        responses={200: ConversationOutput, **error_responses(401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["chat"],
        operation_id="conversations_partial_update",
        request=ConversationUpdateInput,
        responses={200: ConversationOutput, **error_responses(400, 401, 404, 415)},
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = self.get_object()
        data = ConversationUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_rename(
            conversation=conversation, title=data.validated_data["title"]
        )
        return Response(ConversationOutput(conversation).data)

    @extend_schema(
        tags=["chat"],
        operation_id="conversations_destroy",
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.conversation_delete(conversation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationMessages(generics.ListAPIView):
    serializer_class = MessageOutput

    def get_queryset(self) -> QuerySet[Message]:
        conversation = generics.get_object_or_404(
            Conversation.objects.filter(user_id=cast(User, self.request.user).pk),
            pk=self.kwargs["pk"],
        )
        return conversation.messages.order_by("id")

    @extend_schema(
        tags=["chat"],
        operation_id="conversations_messages_list",
        responses={200: MessageOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
