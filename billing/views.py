"""The billing API: balance, ledger history, staff top-ups."""

from __future__ import annotations

from typing import cast

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import services
from billing.models import LedgerEntry
from billing.selectors import balance_of, ledger_of
from billing.serializers import LedgerEntryOutput, TokensOutput, TopUpInput, TopUpOutput
from core.errors import error_responses


class TokensView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="tokens_retrieve",
        responses={200: TokensOutput, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(
            TokensOutput({"tokens": balance_of(user=cast(AbstractBaseUser, request.user))}).data
        )


class TokenHistoryView(ListAPIView):
    serializer_class = LedgerEntryOutput

    def get_queryset(self) -> QuerySet[LedgerEntry]:
        return ledger_of(user=cast(AbstractBaseUser, self.request.user))

    @extend_schema(
        tags=["billing"],
        operation_id="tokens_history_list",
        responses={200: LedgerEntryOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class CanTopUp(BasePermission):
    """Holds the `billing.top_up` permission (checked before the user is looked up, so the
    answer says nothing about which usernames exist)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and services.top_up_allowed(by=user))


class TopUpView(APIView):
    permission_classes = (CanTopUp,)

    @extend_schema(
        tags=["billing"],
        operation_id="top_ups_create",
        request=TopUpInput,
        responses={201: TopUpOutput, **error_responses(400, 401, 403, 404, 415)},
    )
    def post(self, request: Request) -> Response:
        data = TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        entry = services.top_up(
            user=user,
            amount=data.validated_data["amount"],
            by=cast(AbstractBaseUser, request.user),
            note=data.validated_data["note"],
        )
        body = {
            "username": user.get_username(),
            "amount": entry.delta,
            "tokens": entry.balance_after,
            "entry": entry,
        }
        return Response(TopUpOutput(body).data, status=status.HTTP_201_CREATED)
