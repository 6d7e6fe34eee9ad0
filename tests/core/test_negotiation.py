"""An `Accept` header no format satisfies still gets JSON, never a 406 the API does not
document (found by the schema fuzzer with `Accept: NIL`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept", ["NIL", "image/png", "application/xml;q=1"])
def test_an_unsatisfiable_accept_header_gets_json(user_api, accept):
    response = user_api.get("/api/tokens/history/", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["count"] == 1  # the signup grant


def test_a_satisfiable_accept_header_is_still_honoured(user_api):
    response = user_api.get("/api/tokens/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
