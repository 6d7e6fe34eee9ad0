"""The API contract: `openapi.yaml` is exactly what the code generates, valid, warning-free;
docs are served offline; every error under /api/ is JSON in the one format."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import RequestFactory
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from core.errors import server_error

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated() -> str:
    out = StringIO()
    # --fail-on-warn turns any drf-spectacular warning into an error: a schema it had to guess.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return out.getvalue()


def test_the_committed_openapi_yaml_is_what_the_code_generates(generated: str):
    committed = (ROOT / "openapi.yaml").read_text()
    assert committed == generated, "openapi.yaml is stale: run `make openapi` and commit it"


def test_openapi_yaml_is_valid_openapi_3_for_an_independent_validator():
    validate(yaml.safe_load((ROOT / "openapi.yaml").read_text()))


def test_every_operation_has_a_tag_a_clean_operation_id_and_its_error_bodies(generated: str):
    schema = yaml.safe_load(generated)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation["operationId"]), (path, method)
            assert operation.get("tags"), (path, method)
            secured = operation.get("security") != [] and "security" in operation
            if secured and path != "/api/health/":
                assert "401" in operation["responses"], (path, method)


def test_every_list_is_paginated_the_same_way(generated: str):
    schema = yaml.safe_load(generated)
    pages = [name for name in schema["components"]["schemas"] if name.startswith("Paginated")]
    assert pages
    for name in pages:
        properties = schema["components"]["schemas"][name]["properties"]
        assert set(properties) == {"count", "next", "previous", "results"}


def test_the_schema_and_both_doc_pages_are_served_without_a_cdn(api: APIClient):
    assert api.get("/api/schema/").status_code == 200
    for url in ("/api/docs/", "/api/redoc/"):
        page = api.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert not re.search(r"(src|href)=\"https?://", html), f"{url} loads from the internet"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("get", "/api/nothing-here/", 404, "not_found"),
        ("get", "/api/conversations/999999/", 404, "not_found"),
        ("delete", "/api/tokens/", 405, "method_not_allowed"),
        ("put", "/api/chat/", 405, "method_not_allowed"),
    ],
)
def test_errors_under_api_are_json_in_the_one_format(
    user_api: APIClient, method: str, url: str, status: int, code: str
):
    response = getattr(user_api, method)(url)

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code and response.json()["detail"]


def test_a_server_error_under_api_is_json_not_an_html_page():
    response = server_error(RequestFactory().get("/api/chat/"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b'"code": "server_error"' in response.content


def test_outside_api_django_pages_stay_html(api: APIClient, settings: Any):
    response = api.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
