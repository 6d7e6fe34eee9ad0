"""URL wiring: every app's API under /api/, the admin under /admin/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core.health import HealthView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    # Before accounts: privacy serves /api/me/ (accounts' GET, and DELETE).
    path("api/", include("privacy.urls")),
    path("api/", include("accounts.urls")),
    path("api/", include("billing.urls")),
    path("api/", include("providers.urls")),
    path("api/", include("orders.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("retrieval.urls")),
    path("v1/", include("compat.urls")),
    path("", include("web.urls")),
]

# compat's: in OpenAI's shape under /v1/, core.errors' everywhere else.
handler400 = "compat.exceptions.bad_request"
handler403 = "compat.exceptions.permission_denied"
handler404 = "compat.exceptions.page_not_found"
handler500 = "compat.exceptions.server_error"
