"""``GET /api/providers/``: what a signed-in client may choose, and nothing it may not."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.providers.samples import GEMINI_KEY, OPENAI_KEY

URL = "/api/providers/"


@pytest.fixture
def client(db: None) -> APIClient:
    user = get_user_model().objects.create_user(username="shopper", password="s3cret-pass-9")
    return client_for(user)


@pytest.mark.django_db
def test_anonymous_requests_are_refused() -> None:
    response = APIClient().get(URL)

    assert response.status_code == 401


@pytest.mark.django_db
def test_without_vendor_settings_only_local_is_listed(
    client: APIClient, no_vendor_settings: Any
) -> None:
    no_vendor_settings.LOCAL_MODEL = "tally-local-1"

    response = client.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "pricing": "flat",
        "default": {"provider": "local", "model": "tally-local-1"},
        "providers": [
            {
                "name": "local",
                "default_model": "tally-local-1",
                "models": ["tally-local-1"],
                "prices": {"tally-local-1": 100},
                "rates": {"tally-local-1": {"prompt": 10.0, "completion": 30.0}},
            }
        ],
    }


@pytest.mark.django_db
def test_configured_vendors_are_listed_with_their_allowed_models(
    client: APIClient, vendor_settings: Any
) -> None:
    vendor_settings.LLM_PROVIDER = "openai"

    body = client.get(URL).json()

    assert body["default"] == {"provider": "openai", "model": "gpt-fake-mini"}
    by_name = {p["name"]: p for p in body["providers"]}
    assert list(by_name) == ["local", "openai", "gemini"]
    assert by_name["openai"] == {
        "name": "openai",
        "default_model": "gpt-fake-mini",
        "models": ["gpt-fake-mini", "gpt-fake-large"],
        "prices": {"gpt-fake-mini": 100, "gpt-fake-large": 100},
        "rates": {
            "gpt-fake-mini": {"prompt": 10.0, "completion": 30.0},
            "gpt-fake-large": {"prompt": 10.0, "completion": 30.0},
        },
    }
    assert by_name["gemini"]["models"] == ["gemini-fake-flash"]


@pytest.mark.django_db
def test_keys_and_base_urls_are_never_exposed(client: APIClient, vendor_settings: Any) -> None:
    text = client.get(URL).content.decode()

    assert OPENAI_KEY not in text
    assert GEMINI_KEY not in text
    assert "127.0.0.1" not in text


def test_the_openapi_schema_documents_the_response() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "providers_list"
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert set(component["properties"]) == {"pricing", "default", "providers"}
