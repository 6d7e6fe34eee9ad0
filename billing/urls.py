"""Routes of the billing API, mounted under /api/."""

from __future__ import annotations

from django.urls import path

from billing import views

urlpatterns = [
    path("tokens/", views.TokensView.as_view(), name="tokens"),
    path("tokens/history/", views.TokenHistoryView.as_view(), name="token-history"),
    path("admin/top-ups/", views.TopUpView.as_view(), name="top-ups"),
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("admin/usage/", views.StaffUsageView.as_view(), name="admin-usage"),
]
