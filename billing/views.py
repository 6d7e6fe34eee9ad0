"""The billing API: balance, ledger history, staff top-ups."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import cast

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import services
from billing.models import LedgerEntry
from billing.selectors import USAGE_COLUMNS, USAGE_SUMS, balance_of, ledger_of, usage
from billing.serializers import (
    LedgerEntryOutput,
    PaginatedUsageRowList,
    StaffUsageQuery,
    TokensOutput,
    TopUpInput,
    TopUpOutput,
    UsageQuery,
    UsageRowOutput,
)
from core.errors import error_responses
from core.pagination import PageNumberPagination
from core.renderers import CSVRenderer


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


USAGE_DESCRIPTION = (
    "Chats charged and refunded, and tokens spent, per UTC day or model over `from`..`to` "
    "(both included; the last 30 days by default, at most 366), paginated. JSON, or CSV with "
    "`Accept: text/csv` or `?format=csv` (the page's rows; the next page in the `Link` header)."
)


class _UsageView(APIView):
    renderer_classes = (JSONRenderer, CSVRenderer)
    query: type[UsageQuery] = UsageQuery

    def report(self, request: Request, wallet_id: int | None) -> Response:
        query = self.query(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        start = datetime.combine(params["from"], time.min, tzinfo=UTC)
        end = datetime.combine(params["to"] + timedelta(days=1), time.min, tzinfo=UTC)
        rows = usage(since=start, until=end, group_by=params["group_by"], wallet_id=wallet_id)
        self.csv_columns = [*USAGE_COLUMNS[params["group_by"]], *USAGE_SUMS]
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        response = paginator.get_paginated_response(UsageRowOutput(page, many=True).data)
        if paginator.page is not None and paginator.page.has_next():
            response["Link"] = f'<{paginator.get_next_link()}>; rel="next"'
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = 'attachment; filename="usage.csv"'
        return response


class UsageView(_UsageView):
    @extend_schema(
        tags=["billing"],
        operation_id="usage_list",
        parameters=[UsageQuery],
        responses={
            (200, "application/json"): PaginatedUsageRowList,
            (200, "text/csv"): OpenApiTypes.STR,
            **error_responses(400, 401, 404),
        },
        description="Your usage. " + USAGE_DESCRIPTION,
    )
    def get(self, request: Request) -> Response:
        return self.report(request, wallet_id=cast(AbstractBaseUser, request.user).pk)


class StaffUsageView(_UsageView):
    permission_classes = (IsAdminUser,)
    query = StaffUsageQuery

    @extend_schema(
        tags=["billing"],
        operation_id="admin_usage_list",
        parameters=[StaffUsageQuery],
        responses={
            (200, "application/json"): PaginatedUsageRowList,
            (200, "text/csv"): OpenApiTypes.STR,
            **error_responses(400, 401, 403, 404),
        },
        description="Staff: every user's usage, per user (by default), day or model; `user` "
        "narrows it to one username. " + USAGE_DESCRIPTION,
    )
    def get(self, request: Request) -> Response:
        username = request.query_params.get("user")
        wallet_id = None
        if username and "\x00" in username:  # no username holds one (PostgreSQL refuses it)
            raise NotFound(f"No user {username!r}.")
        if username:
            wallet_id = (
                get_user_model()
                .objects.filter(username__iexact=username)
                .values_list("pk", flat=True)
                .first()
            )
            if wallet_id is None:
                raise NotFound(f"No user {username!r}.")
        return self.report(request, wallet_id=wallet_id)
