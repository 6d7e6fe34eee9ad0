"""Register and login are limited per client IP; X-Forwarded-For is believed only as configured."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def attempt(api: APIClient, n: int, **extra: Any) -> Any:
    body = {"username": f"u{n}", "password": "wrong-password"}
    return api.post("/api/login/", body, format="json", **extra)


def test_the_limit_answers_429_with_retry_after(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "3/min"
    statuses = [attempt(api, n).status_code for n in range(4)]

    assert statuses == [400, 400, 400, 429]
    response = attempt(api, 5)
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    assert response.json()["retry_after"] == int(response["Retry-After"])


def test_register_and_login_share_the_per_ip_budget(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "2/min"
    api.post("/api/register/", {"username": "a", "password": "s3cret-pass-word"}, format="json")
    attempt(api, 1)

    response = api.post(
        "/api/register/", {"username": "b", "password": "s3cret-pass-word"}, format="json"
    )
    assert response.status_code == 429


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
