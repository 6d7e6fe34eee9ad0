"""Routes of the privacy API, mounted under /api/ before the accounts routes (it serves
`/api/me/` in their place)."""

from __future__ import annotations

from django.urls import path

from privacy import views

urlpatterns = [
    path("me/", views.AccountView.as_view(), name="me"),
    path("me/export/", views.ExportView.as_view(), name="me-export"),
]
