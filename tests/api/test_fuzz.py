"""Schemathesis over every operation of the committed `openapi.yaml`, with generated data, as a
normal user and as staff: no 5xx, and every status, header, content type and body is one the
schema declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services as accounts
from config.wsgi import application

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 50

schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _keep_the_test_transaction_open() -> Iterator[None]:
    # Calling the WSGI app directly fires request_started/finished, whose handler closes the
    # database connection and with it the test's transaction (Django's test client does this too).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture(params=["user", "staff"])
def token(request: pytest.FixtureRequest, db: None, settings: Any) -> str:
    settings.THROTTLE_CHAT = "10000/min"
    settings.THROTTLE_AUTH = "10000/min"
    _, key = accounts.user_register(
        username=f"fuzz-{request.param}",
        password="s3cret-pass-word",
        is_staff=request.param == "staff",
    )
    return key.key


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_contract(case: Any, token: str) -> None:
    response = case.call(app=application, headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=CHECKS)
