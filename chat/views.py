"""The chat API (plain JSON or Server-Sent Events) and the conversations API."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from chat import pipeline, services, serving
from chat.models import Conversation, Message
from chat.serializers import (
    ChatInput,
    ChatOutput,
    ConversationOutput,
    ConversationUpdateInput,
    MessageOutput,
    StreamEventOutput,
)
from chat.streaming import sse
from chat.throttling import ChatRateThrottle
from core.client_ip import client_ip
from core.errors import error_body, error_responses

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
        parameters=[serving.IDEMPOTENCY_KEY],
        responses={
            (200, "application/json"): ChatOutput,
            (200, "text/event-stream"): OpenApiResponse(
                response=StreamEventOutput, description=SSE_DESCRIPTION
            ),
            **error_responses(400, 401, 402, 404, 409, 415, 422, 429, 502, 503, 504),
        },
        description="Ask the assistant; costs the model's price (`CHAT_PRICES`, else `CHAT_COST`; "
        "see `GET /api/providers/`), refunded if the model fails. " + SSE_DESCRIPTION,
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
        wants_stream = data.validated_data["stream"] or "text/event-stream" in request.headers.get(
            "Accept", ""
        )

        def begin() -> pipeline.Turn:
            return pipeline.begin(
                user=cast(User, request.user),
                text=data.validated_data["message"],
                conversation_id=data.validated_data.get("conversation"),
                provider=data.validated_data.get("provider"),
                model=data.validated_data.get("model"),
                client_ip=client_ip(request) or None,
                streamed=wants_stream,
            )

        return serving.serve(request, begin=begin, stream=wants_stream, wire=WIRE)


def _failure(exc: BaseException, balance: int) -> bytes:
    _, error = error_body(exc)
    return sse("error", {**error, "tokens_remaining": balance})


# A turn as `/api/chat/` writes it: `ChatOutput`, or `delta` events then `done` (or `error`).
WIRE = serving.Wire(
    body=lambda turn, answer: ChatOutput(answer).data,
    opening=lambda turn: iter(()),
    delta=lambda turn, text: sse("delta", {"text": text}),
    closing=lambda body: iter((sse("done", body),)),
    replay=lambda body: iter((sse("delta", {"text": body.get("response", "")}), sse("done", body))),
    failure=_failure,
)


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
