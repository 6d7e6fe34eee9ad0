"""Routes of the retrieval API, mounted under /api/."""

from __future__ import annotations

from django.urls import path

from retrieval import views

urlpatterns = [
    path("documents/", views.DocumentListCreate.as_view(), name="documents"),
    path("documents/<int:pk>/", views.DocumentDetail.as_view(), name="document"),
    path("search/", views.SearchView.as_view(), name="search"),
]
