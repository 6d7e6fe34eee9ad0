"""Routes of the providers API (being written)."""

from __future__ import annotations

urlpatterns: list = []
