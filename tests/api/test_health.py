"""GET /api/health/: 200 when the database, cache and model provider are ready, else 503."""

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
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "ok"
    assert body["checks"]["provider"].startswith("ok (local/")


def test_an_unreachable_cache_makes_it_unavailable(api: APIClient):
    dead_redis = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=dead_redis):
        response = api.get("/api/health/")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["cache"].startswith("error:")


def test_a_provider_without_its_key_makes_it_unavailable(api: APIClient, settings: Any):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    response = api.get("/api/health/")

    registry.reset()
    assert response.status_code == 503
    assert response.json()["checks"]["provider"].startswith("error:")
