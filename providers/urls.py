"""Routes of the providers API, mounted under /api/."""

from __future__ import annotations

from django.urls import path

from providers import views

urlpatterns = [
    path("providers/", views.ProviderListView.as_view(), name="providers"),
]
