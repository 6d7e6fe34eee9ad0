"""Usernames are unique whatever their case, by the database itself; login ignores case."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts import services
from accounts.exceptions import UsernameTaken
from accounts.models import User
from billing.models import LedgerEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_name_that_differs_only_in_case(make_user: Callable[..., User]):
    make_user("john")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="JOHN", password=PASSWORD)


def test_registering_past_the_serializer_is_still_refused_as_taken(
    make_user: Callable[..., User],
):
    # What a twin request racing the serializer's check meets: the service alone.
    make_user("john")

    with pytest.raises(UsernameTaken):
        services.user_register(username="John", password="s3cret-pass-word")

    assert list(User.objects.values_list("username", flat=True)) == ["john"]
    assert LedgerEntry.objects.count() == 1


def test_registering_a_name_taken_in_another_case_is_a_400_on_username(
    api: APIClient, make_user: Callable[..., User]
):
    make_user("john")
    body = {"username": "JoHn", "password": "s3cret-pass-word"}

    response = api.post("/api/register/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["username"] == ["A user with that username already exists."]


@pytest.mark.parametrize("typed", ["john", "John", "JOHN"])
def test_login_ignores_the_case_of_the_username(
    api: APIClient, make_user: Callable[..., User], typed: str
):
    john = make_user("John")
    body = {"username": typed, "password": PASSWORD}

    response = api.post("/api/login/", body, format="json")

    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get("/api/me/").json()["id"] == john.pk
