"""GET /api/health/: 200 when the database, cache and model provider are ready, else 503; only
staff see which check said what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from providers import registry

pytestmark = pytest.mark.django_db


def test_a_ready_server_is_healthy_without_authentication(api: APIClient):
    response = api.get("/api/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_staff_see_each_check(staff_api: APIClient):
    response = staff_api.get("/api/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "ok"
    assert body["checks"]["provider"].startswith("ok (local/")
    assert body["duration_ms"] >= 0


def test_other_users_see_only_ok(user_api: APIClient):
    assert user_api.get("/api/health/").json() == {"status": "ok"}


def test_anonymous_callers_learn_only_that_it_is_unavailable(
    api: APIClient, caplog: pytest.LogCaptureFixture
):
    dead_redis = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=dead_redis):
        response = api.get("/api/health/")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert "127.0.0.1:1" not in response.content.decode()
    assert "ConnectionError" in caplog.text  # the operator still learns why, from the log


def test_an_unreachable_cache_makes_it_unavailable(staff_api: APIClient):
    dead_redis = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=dead_redis):
        response = staff_api.get("/api/health/")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["cache"].startswith("error:")


def test_a_provider_without_its_key_makes_it_unavailable(staff_api: APIClient, settings: Any):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    response = staff_api.get("/api/health/")

    registry.reset()
    assert response.status_code == 503
    assert response.json()["checks"]["provider"].startswith("error:")
