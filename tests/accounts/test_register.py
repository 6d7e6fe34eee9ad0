"""POST /api/register/: a new account with the signup grant and a token, or a clear 400."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import LedgerEntry

pytestmark = pytest.mark.django_db
URL = "/api/register/"


def test_register_returns_the_known_shape_with_4000_tokens_and_a_working_token(api: APIClient):
    response = api.post(URL, {"username": "john", "password": "s3cret-pass-word"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"message", "username", "tokens", "token"}
    assert body["message"] == "User registered successfully."
    assert body["username"] == "john"
    assert body["tokens"] == 4000
    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api.get("/api/me/").json()["username"] == "john"


def test_the_signup_grant_is_a_ledger_entry_matching_the_balance(api: APIClient):
    api.post(URL, {"username": "john", "password": "s3cret-pass-word"}, format="json")

    entries = list(LedgerEntry.objects.filter(username="john"))
    assert [(e.kind, e.delta, e.balance_after) for e in entries] == [("signup_grant", 4000, 4000)]


def test_signup_grant_follows_the_setting(api: APIClient, settings: Any):
    settings.SIGNUP_TOKENS = 250
    response = api.post(URL, {"username": "john", "password": "s3cret-pass-word"}, format="json")
    assert response.json()["tokens"] == 250


def test_email_is_optional_and_stored(api: APIClient):
    response = api.post(
        URL,
        {"username": "mary", "password": "s3cret-pass-word", "email": "mary@example.com"},
        format="json",
    )
    assert response.status_code == 201
    assert User.objects.get(username="mary").email == "mary@example.com"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": "s3cret-pass-word"}, "username"),
        ({"username": "john"}, "password"),
        ({"username": "", "password": "s3cret-pass-word"}, "username"),
        ({"username": "john doe", "password": "s3cret-pass-word"}, "username"),
        ({"username": "x" * 151, "password": "s3cret-pass-word"}, "username"),
        ({"username": "john", "password": "s3cret-pass-word", "email": "nope"}, "email"),
        ({"username": "john", "password": "password"}, "password"),
        ({"username": "john", "password": "12345678901"}, "password"),
        ({"username": "john", "password": "short"}, "password"),
        ({"username": "johnathan", "password": "johnathan1"}, "password"),
    ],
)
def test_invalid_registration_is_a_400_naming_the_field(
    api: APIClient, payload: dict[str, str], field: str
):
    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"]
    assert field in body["errors"] and body["errors"][field]
    assert not User.objects.exists()


def test_duplicate_username_is_a_400_on_the_username_field(api: APIClient):
    api.post(URL, {"username": "john", "password": "s3cret-pass-word"}, format="json")

    response = api.post(URL, {"username": "John", "password": "other-pass-word"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["username"] == ["A user with that username already exists."]
    assert User.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


def test_a_body_that_is_not_json_is_a_415_in_the_error_format(api: APIClient):
    response = api.post(URL, {"username": "john", "password": "s3cret-pass-word"})

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_malformed_json_is_a_400(api: APIClient):
    response = api.generic("POST", URL, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_register_ignores_a_bad_token_header(api: APIClient):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api.post(URL, {"username": "john", "password": "s3cret-pass-word"}, format="json")
    assert response.status_code == 201
