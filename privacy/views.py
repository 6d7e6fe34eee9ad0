"""`GET /api/me/export/` and `DELETE /api/me/`: taking one's data along, and leaving."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts.models import User
from accounts.throttling import AuthRateThrottle
from accounts.views import MeView
from core.errors import error_responses
from privacy import selectors, services
from privacy.serializers import AccountDeleteInput, ExportOutput


class _DeleteWithBody(AutoSchema):
    """drf-spectacular documents request bodies of POST, PUT and PATCH only; this DELETE is
    confirmed by a password in its body (OpenAPI allows it, and clients send it)."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"  # read by the base class only to decide whether a body exists
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


# `/api/me/`: accounts' GET, and DELETE, which needs every app below this one.
class AccountView(MeView):
    schema = _DeleteWithBody()

    def get_throttles(self) -> list[BaseThrottle]:
        # The password confirmation is a password guess: it counts as one, like a login.
        if self.request.method == "DELETE":
            return [AuthRateThrottle()]
        return super().get_throttles()

    @extend_schema(
        tags=["accounts"],
        operation_id="me_delete",
        summary="Delete your account",
        description=(
            "Erases your conversations and messages, memories, private documents and their "
            "vectors, your orders' notes, the request log's text and your name, email and "
            "password. The ledger stays, as accounting records do, tied to an anonymised, "
            "inactive account: your balance is forfeited by a last entry. Every API token of "
            "yours stops working. The last active superuser cannot leave (409 `last_superuser`)."
        ),
        request=AccountDeleteInput,
        responses={204: None, **error_responses(400, 401, 409, 415, 429)},
        examples=[
            OpenApiExample(
                "Confirm with your password",
                value={"password": "correct-horse-42"},
                request_only=True,
            )
        ],
    )
    def delete(self, request: Request) -> Response:
        data = AccountDeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.account_delete(user=cast(User, request.user), **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportView(APIView):
    @extend_schema(
        tags=["accounts"],
        operation_id="me_export",
        summary="Export your data",
        description=(
            "One JSON document with your profile, conversations (with their messages), "
            "documents' metadata, orders (with their lines) and ledger entries."
        ),
        responses={200: ExportOutput, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)
        body = ExportOutput(selectors.export_of(user=user), context={"user": user}).data
        return Response(body)
