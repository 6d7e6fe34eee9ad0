"""The catalog and orders API: browse products, read your orders, confirm or cancel them."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.errors import error_responses
from orders import services
from orders.models import Order, Product
from orders.selectors import order_summary, orders_of, products_search
from orders.serializers import OrderOutput, ProductOutput, ProductSearchInput


class ProductList(generics.ListAPIView):
    serializer_class = ProductOutput

    def get_queryset(self) -> QuerySet[Product]:
        data = ProductSearchInput(data=self.request.query_params)
        data.is_valid(raise_exception=True)  # a NUL or an overlong search is a 400
        return products_search(query=data.validated_data.get("search", ""))

    @extend_schema(
        tags=["orders"],
        operation_id="products_list",
        parameters=[ProductSearchInput],
        responses={200: ProductOutput(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrderList(generics.ListAPIView):
    def get_queryset(self) -> QuerySet[Order]:
        return orders_of(user=cast(User, self.request.user))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        data = OrderOutput([order_summary(order) for order in page or []], many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_list",
        responses={200: OrderOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrderDetail(APIView):
    @extend_schema(
        tags=["orders"],
        operation_id="orders_retrieve",
        responses={200: OrderOutput, **error_responses(401, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        order = generics.get_object_or_404(orders_of(user=cast(User, request.user)), pk=pk)
        return Response(OrderOutput(order_summary(order)).data)


class OrderConfirm(APIView):
    @extend_schema(
        tags=["orders"],
        operation_id="orders_confirm",
        request=None,
        responses={200: OrderOutput, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        user = cast(User, request.user)
        order = services.order_confirm(user=user, order_id=pk)
        return Response(OrderOutput(order_summary(orders_of(user=user).get(pk=order.pk))).data)


class OrderCancel(APIView):
    @extend_schema(
        tags=["orders"],
        operation_id="orders_cancel",
        request=None,
        responses={200: OrderOutput, **error_responses(401, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        user = cast(User, request.user)
        order = services.order_cancel(user=user, order_id=pk)
        return Response(OrderOutput(order_summary(orders_of(user=user).get(pk=order.pk))).data)
