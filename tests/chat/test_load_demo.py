"""`manage.py load_demo` (run by `make run`) can run any number of times, and never makes the
demo staff account in production."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import User
from chat.management.commands.load_demo import DEMO
from orders.models import Product
from retrieval.models import Document

pytestmark = pytest.mark.django_db

DEMO_SKUS = sorted(product["sku"] for product in json.loads((DEMO / "catalog.json").read_text()))


def _catalog_skus() -> list[str]:
    return sorted(Product.objects.values_list("sku", flat=True))


def test_load_demo_run_twice_loads_every_product_once_and_one_staff_account_that_can_log_in(
    api: APIClient,
):
    first, second = StringIO(), StringIO()
    call_command("load_demo", stdout=first)
    call_command("load_demo", stdout=second)

    assert "staff / tally-staff-demo" in first.getvalue()
    assert "exists" in second.getvalue()
    assert User.objects.filter(username="staff", is_staff=True).count() == 1
    assert _catalog_skus() == DEMO_SKUS
    assert f"Catalog: {len(DEMO_SKUS)} product(s) added." in first.getvalue()
    assert "Catalog: 0 product(s) added." in second.getvalue()
    response = api.post(
        "/api/login/", {"username": "staff", "password": "tally-staff-demo"}, format="json"
    )
    assert response.status_code == 200


def test_in_production_load_demo_never_creates_the_demo_staff_account(
    api: APIClient, settings: Any, make_user: Callable[..., User]
):
    settings.PRODUCTION = True
    out = StringIO()

    call_command("load_demo", stdout=out)

    assert not User.objects.filter(username="staff").exists()
    assert "tally-staff-demo" not in out.getvalue()
    assert _catalog_skus() == DEMO_SKUS
    response = api.post(
        "/api/login/", {"username": "staff", "password": "tally-staff-demo"}, format="json"
    )
    assert response.status_code == 400
    # The shop's FAQ goes to a superuser the operator made, when there is one.
    owner = make_user("operator", is_staff=True, is_superuser=True)
    call_command("load_demo", stdout=StringIO())
    assert list(Document.objects.values_list("owner_id", "shared")) == [(owner.pk, True)]
    assert not User.objects.filter(username="staff").exists()
