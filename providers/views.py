"""The providers API: what a client may choose when it asks for a completion."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from providers import registry
from providers.serializers import ProvidersOutput


class ProviderListView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["providers"],
        operation_id="providers_list",
        summary="List the configured providers and their allowed models",
        responses={
            200: ProvidersOutput,
            401: OpenApiResponse(description="Authentication credentials were not provided."),
        },
    )
    def get(self, request: Request) -> Response:
        provider, model = registry.default_choice()
        body = {
            "pricing": settings.CHAT_PRICING,
            "default": {"provider": provider, "model": model},
            "providers": [asdict(info) for info in registry.available()],
        }
        return Response(ProvidersOutput(body).data)
