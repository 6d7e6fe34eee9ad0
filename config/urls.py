"""URL wiring: every app's API under /api/, the admin under /admin/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("accounts.urls")),
    path("api/", include("billing.urls")),
    path("api/", include("providers.urls")),
    path("api/", include("orders.urls")),
    path("api/", include("chat.urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
