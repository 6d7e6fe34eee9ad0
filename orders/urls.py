"""Routes of the catalog and orders API, mounted under /api/."""

from __future__ import annotations

from django.urls import path

from orders import views

urlpatterns = [
    path("products/", views.ProductList.as_view(), name="products"),
    path("orders/", views.OrderList.as_view(), name="orders"),
    path("orders/<int:pk>/", views.OrderDetail.as_view(), name="order"),
    path("orders/<int:pk>/confirm/", views.OrderConfirm.as_view(), name="order-confirm"),
    path("orders/<int:pk>/cancel/", views.OrderCancel.as_view(), name="order-cancel"),
]
