"""API tokens: stored as digests, expiring, named; a user lists and revokes their own, logout
revokes the one used, and a password change revokes all the others."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
TOKENS = "/api/me/api-tokens/"


def login(username: str = "alice", password: str = PASSWORD, **extra: Any) -> str:
    body = {"username": username, "password": password, **extra}
    response = APIClient().post("/api/login/", body, format="json")
    assert response.status_code == 200, response.json()
    return str(response.json()["token"])


def holding(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def works(key: str) -> bool:
    return holding(key).get("/api/me/").status_code == 200


def test_only_a_digest_of_the_key_is_stored(api: APIClient):
    body = {"username": "john", "password": "s3cret-pass-word"}
    key = api.post("/api/register/", body, format="json").json()["token"]

    row = ApiToken.objects.get(user__username="john")
    stored = [str(value) for value in vars(row).values()]
    assert not [value for value in stored if key in value]
    assert len(row.digest) == 128 and row.token_key == key[:15]
    assert works(key)


def test_a_new_token_expires_token_ttl_after_issue(user: User):
    key = login(name="laptop")

    listed = holding(key).get(TOKENS).json()["results"][0]
    assert listed["name"] == "laptop"
    expiry = datetime.fromisoformat(listed["expiry"])
    assert abs(expiry - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


def test_an_expired_token_is_refused_with_the_json_error(user: User):
    key = login()
    ApiToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    response = holding(key).get("/api/me/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}
    assert not ApiToken.objects.filter(token_key=key[:15]).exists()


def test_expired_tokens_are_not_listed_and_go_at_the_next_login(user: User):
    ApiToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))  # registration's

    key = login(name="laptop")

    assert [t["name"] for t in holding(key).get(TOKENS).json()["results"]] == ["laptop"]
    assert list(ApiToken.objects.filter(user=user).values_list("name", flat=True)) == ["laptop"]


def test_use_renews_a_token_at_most_once_an_hour(user: User):
    key = login(name="laptop")
    row = ApiToken.objects.get(user=user, name="laptop")
    two_hours_ago = timezone.now() - timedelta(hours=2)
    ApiToken.objects.filter(pk=row.pk).update(
        expiry=timezone.now() + timedelta(days=1), last_used=two_hours_ago
    )

    assert works(key)
    row.refresh_from_db()
    assert row.expiry > timezone.now() + timedelta(days=29, hours=23)
    assert row.last_used > two_hours_ago + timedelta(hours=1)

    renewed = (row.expiry, row.last_used)
    assert works(key)
    row.refresh_from_db()
    assert (row.expiry, row.last_used) == renewed


def test_login_names_the_token_and_the_list_shows_it_without_its_key(user: User):
    key = login(name="laptop")

    response = holding(key).get(TOKENS)

    assert response.status_code == 200
    laptop = next(t for t in response.json()["results"] if t["name"] == "laptop")
    assert laptop["prefix"] == key[:6]
    assert laptop["current"] is True
    assert set(laptop) == {"id", "name", "prefix", "created", "expiry", "last_used", "current"}
    digest = ApiToken.objects.get(pk=laptop["id"]).digest
    assert key not in response.content.decode() and digest not in response.content.decode()


def test_a_user_holds_several_tokens_and_revoking_one_leaves_the_others(user: User):
    phone, laptop = login(name="phone"), login(name="laptop")
    phone_id = ApiToken.objects.get(name="phone").pk

    assert holding(laptop).delete(f"{TOKENS}{phone_id}/").status_code == 204

    assert not works(phone)
    assert works(laptop)
    names = [t["name"] for t in holding(laptop).get(TOKENS).json()["results"]]
    assert "phone" not in names and "laptop" in names


def test_another_users_token_cannot_be_seen_or_revoked(user: User, make_user: Callable[..., User]):
    make_user("bob")
    alices = login("alice", name="phone")
    bobs = login("bob")
    alices_id = ApiToken.objects.get(user=user, name="phone").pk

    response = holding(bobs).delete(f"{TOKENS}{alices_id}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert works(alices)
    assert alices_id not in [t["id"] for t in holding(bobs).get(TOKENS).json()["results"]]


def test_revoking_all_tokens_signs_out_every_client_this_one_included(user: User):
    phone, laptop = login(name="phone"), login(name="laptop")

    response = holding(laptop).delete(TOKENS)

    assert response.status_code == 200
    assert response.json() == {"revoked": 3}  # registration's, phone's and laptop's
    assert not works(phone) and not works(laptop)
    assert not ApiToken.objects.filter(user=user).exists()


def test_logout_revokes_only_the_token_it_came_with(user: User):
    phone, laptop = login(name="phone"), login(name="laptop")

    assert holding(phone).post("/api/logout/").status_code == 204

    assert not works(phone)
    assert works(laptop)


def test_a_password_change_revokes_every_other_token_and_keeps_this_one(user: User):
    phone, laptop = login(name="phone"), login(name="laptop")
    body = {"old_password": PASSWORD, "new_password": "a-new-long-passphrase"}

    response = holding(laptop).post("/api/me/password/", body, format="json")

    assert response.status_code == 204
    assert works(laptop)
    assert not works(phone)
    assert ApiToken.objects.filter(user=user).count() == 1
    assert works(login(password="a-new-long-passphrase"))
    old = {"username": "alice", "password": PASSWORD}
    assert APIClient().post("/api/login/", old, format="json").status_code == 400


def test_a_wrong_old_password_is_a_400_on_that_field_and_changes_nothing(user: User):
    phone, laptop = login(name="phone"), login(name="laptop")
    body = {"old_password": "not-my-password", "new_password": "a-new-long-passphrase"}

    response = holding(laptop).post("/api/me/password/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["old_password"]
    assert works(phone)
    assert works(login(password=PASSWORD))


@pytest.mark.parametrize("weak", ["short", "password", "12345678901", "alice1234"])
def test_a_new_password_the_validators_refuse_is_a_400_on_that_field(user: User, weak: str):
    key = login()
    body = {"old_password": PASSWORD, "new_password": weak}

    response = holding(key).post("/api/me/password/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["new_password"]
    assert works(login(password=PASSWORD))


def test_the_token_routes_need_a_token(api: APIClient):
    for method, url in [("get", TOKENS), ("delete", TOKENS), ("delete", f"{TOKENS}1/")]:
        response = getattr(api, method)(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    assert api.post("/api/me/password/", {}, format="json").status_code == 401


@pytest.mark.parametrize("header", ["Token caf\u00e9", "Token abc\x00def", "Token " + "f" * 300])
def test_a_token_that_cannot_be_a_key_is_a_401(api: APIClient, user: User, header: str):
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.get("/api/me/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_password_changes_are_limited_per_user(user: User, settings: Any):
    settings.THROTTLE_LOGIN_ACCOUNT = "1/hour"
    api = holding(login(name="stolen"))
    body = {"old_password": "guess-one", "new_password": "a-new-long-passphrase"}
    assert api.post("/api/me/password/", body, format="json").status_code == 400

    refused = api.post("/api/me/password/", {**body, "old_password": PASSWORD}, format="json")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
