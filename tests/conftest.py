"""Fixtures shared by every test: API clients, users made through the real services."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.models import User
from orders import catalog
from tests import live_server
from tests.production.server import RedisServer, redis_server

PASSWORD = "correct-horse-battery-staple"
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _private_data_dir(settings: Any, tmp_path: Path) -> None:
    # Each test gets its own retrieval index folder (the index cache resets on this change).
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture(autouse=True)
def _fast_hashing_and_clean_cache(settings: Any) -> Iterator[None]:
    # Real password hashing costs ~0.3 s a user; the tests are about the API, not PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    catalog.changed()  # a rolled-back test's products must not linger in the snapshot
    yield
    cache.clear()
    catalog.changed()


@pytest.fixture(autouse=True)
def _settle_live_servers(_django_db_helper: None) -> Iterator[None]:
    # Torn down before the database is flushed: live servers finish remembering first.
    yield
    live_server.settle()


@pytest.fixture(autouse=True)
def _inline_background_tasks(settings: Any) -> None:
    # Tests look at a chat's memory right after it, inside their own transaction: the
    # background thread (`core.tasks`) gets tests of its own.
    settings.TASKS = {
        **settings.TASKS,
        "background": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    }


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Register a user through the real service (so they get the signup grant and a token)."""

    def make(username: str | None = None, *, is_staff: bool = False, **extra: Any) -> User:
        user, _ = accounts.user_register(
            username=username or f"user{next(_names)}",
            password=PASSWORD,
            is_staff=is_staff,
            **extra,
        )
        return user

    return make


def client_for(user: User) -> APIClient:
    """An API client holding a new API token of the user's."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {accounts.token_issue(user=user).key}")
    return client


@pytest.fixture
def admin_browser(make_user: Callable[..., User]) -> Client:
    """The Django admin, logged in as a superuser. `force_login`: django-axes needs the request
    that `Client.login` does not pass to `authenticate()`."""
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))
    return browser


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    """A staff member who may top up wallets (the `billing.top_up` permission)."""
    boss = make_user("boss", is_staff=True)
    boss.user_permissions.add(Permission.objects.get(codename="top_up"))
    return boss


@pytest.fixture
def user_api(user: User) -> APIClient:
    return client_for(user)


@pytest.fixture
def staff_api(staff: User) -> APIClient:
    return client_for(staff)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the tests' own, on a free port (skipped without one: `make
    test-services` installs it)."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server (make test-services installs it)")
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running
