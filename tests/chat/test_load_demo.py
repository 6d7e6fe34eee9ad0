"""`manage.py load_demo` (run by `make run`) can run any number of times."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import User
from orders.models import Product

pytestmark = pytest.mark.django_db


def test_load_demo_creates_one_staff_account_that_can_log_in_and_is_idempotent(api: APIClient):
    first, second = StringIO(), StringIO()
    call_command("load_demo", stdout=first)
    call_command("load_demo", stdout=second)

    assert "staff / tally-staff-demo" in first.getvalue()
    assert "exists" in second.getvalue()
    assert User.objects.filter(username="staff", is_staff=True).count() == 1
    assert Product.objects.count() >= 12
    assert "Catalog: 0 product(s) added." in second.getvalue()
    response = api.post(
        "/api/login/", {"username": "staff", "password": "tally-staff-demo"}, format="json"
    )
    assert response.status_code == 200
