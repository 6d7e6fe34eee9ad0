"""Routes of the accounts API, mounted under /api/. `GET /api/me/` is `MeView`, served by the
privacy app, which adds `DELETE` to it."""

from __future__ import annotations

from django.urls import path

from accounts import views

# "api-tokens": in this API, "tokens" alone is the credit balance (/api/tokens/).
urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="register"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("me/password/", views.PasswordView.as_view(), name="password-change"),
    path("me/api-tokens/", views.ApiTokensView.as_view(), name="api-tokens"),
    path("me/api-tokens/<int:token_id>/", views.ApiTokenView.as_view(), name="api-token"),
]
