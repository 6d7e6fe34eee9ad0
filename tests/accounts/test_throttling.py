"""Registration is limited per network and overall, login per address and per account, each in
its own bucket; X-Forwarded-For is believed only as configured; a limit hit is 429 + Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def attempt(api: APIClient, n: int, **extra: Any) -> Any:
    body = {"username": f"u{n}", "password": "wrong-password"}
    return api.post("/api/login/", body, format="json", **extra)


def register(api: APIClient, name: str, **extra: Any) -> Any:
    body = {"username": name, "password": "s3cret-pass-word"}
    return api.post("/api/register/", body, format="json", **extra)


def test_the_limit_answers_429_with_retry_after(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "3/min"
    statuses = [attempt(api, n).status_code for n in range(4)]

    assert statuses == [400, 400, 400, 429]
    response = attempt(api, 5)
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    assert response.json()["retry_after"] == int(response["Retry-After"])


def test_registration_and_login_count_in_separate_buckets(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "1/min"
    settings.THROTTLE_SIGNUP = "1/hour"
    assert attempt(api, 1).status_code == 400

    assert register(api, "a").status_code == 201
    assert attempt(api, 2).status_code == 429
    assert register(api, "b").status_code == 429


def test_registration_is_limited_per_ipv4_address(api: APIClient, settings: Any):
    settings.THROTTLE_SIGNUP = "2/hour"
    statuses = [register(api, f"n{n}", REMOTE_ADDR="198.51.100.7").status_code for n in range(3)]

    assert statuses == [201, 201, 429]
    refused = register(api, "n9", REMOTE_ADDR="198.51.100.7")
    assert 3500 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["code"] == "throttled"
    assert register(api, "other", REMOTE_ADDR="198.51.100.8").status_code == 201
    assert User.objects.count() == 3


def test_registrations_from_one_ipv6_64_share_a_limit(api: APIClient, settings: Any):
    settings.THROTTLE_SIGNUP = "1/hour"
    assert register(api, "a", REMOTE_ADDR="2001:db8:1:2::1").status_code == 201

    assert register(api, "b", REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:fffe").status_code == 429
    assert register(api, "c", REMOTE_ADDR="2001:db8:1:3::1").status_code == 201


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address(api: APIClient, settings: Any):
    settings.THROTTLE_SIGNUP = "1/hour"
    assert register(api, "a", REMOTE_ADDR="203.0.113.5").status_code == 201

    assert register(api, "b", REMOTE_ADDR="::ffff:203.0.113.5").status_code == 429


def test_the_global_signup_limit_holds_across_addresses(api: APIClient, settings: Any):
    settings.SIGNUP_GLOBAL_RATE = "2/hour"
    statuses = [register(api, f"n{n}", REMOTE_ADDR=f"192.0.2.{n}").status_code for n in range(3)]

    assert statuses == [201, 201, 429]


def test_registrations_refused_per_address_do_not_use_up_the_global_limit(
    api: APIClient, settings: Any
):
    settings.THROTTLE_SIGNUP = "1/hour"
    settings.SIGNUP_GLOBAL_RATE = "2/hour"
    assert register(api, "a", REMOTE_ADDR="192.0.2.1").status_code == 201
    for n in range(3):
        assert register(api, f"again{n}", REMOTE_ADDR="192.0.2.1").status_code == 429

    assert register(api, "b", REMOTE_ADDR="192.0.2.2").status_code == 201


def test_a_client_address_that_is_not_an_address_is_limited_not_a_500(
    api: APIClient, settings: Any
):
    settings.THROTTLE_SIGNUP = "1/hour"
    assert register(api, "a", REMOTE_ADDR="not-an-address").status_code == 201

    assert register(api, "b", REMOTE_ADDR="").status_code == 429


def test_login_is_limited_per_account_from_any_address_whatever_the_case(
    api: APIClient, user: User, settings: Any
):
    settings.THROTTLE_LOGIN_ACCOUNT = "2/hour"
    for n, name in enumerate(["alice", "ALICE"]):
        body = {"username": name, "password": "wrong-password"}
        response = api.post("/api/login/", body, format="json", REMOTE_ADDR=f"192.0.2.{n}")
        assert response.status_code == 400

    body = {"username": "Alice", "password": PASSWORD}
    refused = api.post("/api/login/", body, format="json", REMOTE_ADDR="192.0.2.9")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    other = {"username": "bob", "password": "wrong-password"}
    assert api.post("/api/login/", other, format="json").status_code == 400


def test_another_ip_has_its_own_budget(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "1/min"
    attempt(api, 1, REMOTE_ADDR="10.0.0.1")

    assert attempt(api, 2, REMOTE_ADDR="10.0.0.1").status_code == 429
    assert attempt(api, 3, REMOTE_ADDR="10.0.0.2").status_code == 400


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "1/min"
    settings.TRUSTED_PROXIES = 0
    attempt(api, 1, HTTP_X_FORWARDED_FOR="1.1.1.1")

    assert attempt(api, 2, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429


def test_behind_one_trusted_proxy_the_forwarded_address_is_the_client(
    api: APIClient, settings: Any
):
    settings.THROTTLE_AUTH = "1/min"
    settings.TRUSTED_PROXIES = 1
    attempt(api, 1, HTTP_X_FORWARDED_FOR="forged, 203.0.113.7")

    assert attempt(api, 2, HTTP_X_FORWARDED_FOR="forged, 203.0.113.8").status_code == 400
    assert attempt(api, 3, HTTP_X_FORWARDED_FOR="other, 203.0.113.7").status_code == 429
