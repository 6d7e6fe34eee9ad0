"""The client IP is only ever a well-formed address: what throttles count by and what is stored."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from chat.models import Message, RequestLog

pytestmark = pytest.mark.django_db


def chat(api: APIClient, **extra: Any) -> Any:
    return api.post("/api/chat/", {"message": "Hello there!"}, format="json", **extra)


def login(api: APIClient, **extra: Any) -> Any:
    body = {"username": "nobody", "password": "wrong-password"}
    return api.post("/api/login/", body, format="json", **extra)


@pytest.mark.parametrize("hop", ["not-an-ip", "203.0.113.7:443", "999.1.1.1", "<script>"])
def test_a_malformed_trusted_hop_is_not_stored_the_socket_address_is(
    user_api: APIClient, settings: Any, hop: str
):
    settings.TRUSTED_PROXIES = 1

    response = chat(user_api, HTTP_X_FORWARDED_FOR=f"198.51.100.1, {hop}")

    assert response.status_code == 200
    assert RequestLog.objects.get().client_ip == "127.0.0.1"
    assert set(Message.objects.values_list("client_ip", flat=True)) == {"127.0.0.1"}


def test_a_well_formed_trusted_hop_is_stored_normalised(user_api: APIClient, settings: Any):
    settings.TRUSTED_PROXIES = 1

    chat(user_api, HTTP_X_FORWARDED_FOR="198.51.100.1, 2001:DB8:0:0::7")

    assert RequestLog.objects.get().client_ip == "2001:db8::7"


def test_a_malformed_socket_address_is_stored_as_unknown(user_api: APIClient):
    response = chat(user_api, REMOTE_ADDR="unix:/run/tally.sock")

    assert response.status_code == 200
    assert RequestLog.objects.get().client_ip is None


def test_rotating_malformed_hops_share_one_throttle_bucket(api: APIClient, settings: Any):
    settings.THROTTLE_AUTH = "2/min"
    settings.TRUSTED_PROXIES = 1

    statuses = [login(api, HTTP_X_FORWARDED_FOR=f"garbage-{n}").status_code for n in range(3)]

    assert statuses == [400, 400, 429]
