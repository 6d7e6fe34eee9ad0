"""django-axes locks out repeated login failures: the admin's login page, and the API's login
with its own JSON 429, counted together for one password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit_of_three(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3


@pytest.fixture
def boss(make_user: Callable[..., User]) -> User:
    return make_user("boss", is_staff=True, is_superuser=True)


def admin_login(password: str, *, address: str = "127.0.0.1", username: str = "boss") -> Any:
    body = {"username": username, "password": password, "next": "/admin/"}
    return Client(REMOTE_ADDR=address).post("/admin/login/?next=/admin/", body)


def api_login(password: str, *, address: str = "127.0.0.1", username: str = "alice") -> Any:
    body = {"username": username, "password": password}
    return APIClient().post("/api/login/", body, format="json", REMOTE_ADDR=address)


def test_the_admin_login_locks_out_after_the_failure_limit(boss: User):
    assert [admin_login("wrong").status_code for _ in range(2)] == [200, 200]

    locked = admin_login("wrong")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60

    refused = admin_login(PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in refused.client.session


def test_an_admin_lockout_holds_from_another_address_for_that_name(boss: User):
    for n in range(3):
        admin_login("wrong", address=f"192.0.2.{n}")

    assert admin_login(PASSWORD, address="198.51.100.1").status_code == 429


def test_the_admin_still_logs_in_below_the_limit(boss: User):
    admin_login("wrong")

    response = admin_login(PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_a_locked_out_api_login_is_a_json_429_with_retry_after(user: User):
    assert [api_login("wrong").status_code for _ in range(2)] == [400, 400]

    locked = api_login("wrong")
    assert locked.status_code == 429
    assert locked.json() == {
        "detail": "Too many failed logins: try again later.",
        "code": "locked_out",
        "retry_after": 15 * 60,
    }
    assert locked["Retry-After"] == str(15 * 60)
    assert api_login(PASSWORD).status_code == 429


def test_an_api_lockout_is_for_that_name_from_that_address_only(
    user: User, make_user: Callable[..., User]
):
    make_user("bob")
    for _ in range(3):
        api_login("wrong", username="ALICE")

    assert api_login(PASSWORD, address="198.51.100.1").status_code == 200
    assert api_login(PASSWORD, username="bob").status_code == 200


def test_failed_api_logins_lock_the_admin_for_that_name(boss: User):
    for n in range(3):
        api_login("wrong", username="boss", address=f"192.0.2.{n}")

    assert admin_login(PASSWORD, address="198.51.100.1").status_code == 429
