"""Login hands out the token, logout revokes it, /api/me/ says who the token belongs to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(api: APIClient, username: str, password: str) -> Any:
    return api.post("/api/login/", {"username": username, "password": password}, format="json")


def test_login_returns_the_token_that_authenticates(api: APIClient, user: User):
    response = login(api, "alice", PASSWORD)

    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get("/api/me/").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_400(api: APIClient, user: User):
    wrong_password = login(api, "alice", "not-the-password")
    unknown_user = login(api, "nobody", PASSWORD)

    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.json()["code"] == "invalid_credentials"


def test_an_inactive_user_cannot_log_in(api: APIClient, make_user: Callable[..., User]):
    user = make_user("gone")
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert login(api, "gone", PASSWORD).status_code == 400


@pytest.mark.parametrize("payload", [{}, {"username": "alice"}, {"password": PASSWORD}])
def test_login_without_both_fields_is_a_400_naming_them(api: APIClient, payload: dict[str, str]):
    response = api.post("/api/login/", payload, format="json")

    assert response.status_code == 400
    missing = {"username", "password"} - set(payload)
    assert set(response.json()["errors"]) == missing


def test_logout_revokes_the_token(user_api: APIClient):
    assert user_api.post("/api/logout/").status_code == 204

    response = user_api.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_logging_in_again_after_logout_gives_a_new_token(api: APIClient, user: User):
    first = login(api, "alice", PASSWORD).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    api.post("/api/logout/")

    second = login(APIClient(), "alice", PASSWORD).json()["token"]
    assert second != first


def test_me_describes_the_caller(user_api: APIClient, user: User):
    billing.charge(user=user, amount=100)

    body = user_api.get("/api/me/").json()

    assert body["id"] == user.pk
    assert body["username"] == "alice"
    assert body["email"] == ""
    assert body["tokens"] == 3900
    assert body["is_staff"] is False
    assert body["date_joined"].endswith("Z")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/me/"),
        ("post", "/api/logout/"),
        ("get", "/api/tokens/"),
        ("get", "/api/tokens/history/"),
        ("post", "/api/admin/top-ups/"),
    ],
)
def test_protected_endpoints_answer_401_with_the_token_scheme(
    api: APIClient, method: str, url: str
):
    response = getattr(api, method)(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_a_wrong_token_is_a_401(api: APIClient, user: User):
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert api.get("/api/me/").status_code == 401
