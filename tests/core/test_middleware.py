"""`SyncChain`: under ASGI the middleware stack runs synchronously, in a handful of thread
switches a request rather than two per middleware."""

from __future__ import annotations

import pytest
from asgiref import sync
from django.conf import settings
from django.test import AsyncClient, override_settings

from accounts.services import token_issue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(user) -> str:
    return token_issue(user=user).key


@pytest.fixture
def switches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the sync functions called from async code (each one a thread switch)."""
    seen: list[str] = []
    call = sync.SyncToAsync.__call__

    async def counted(self: sync.SyncToAsync, *args: object, **kwargs: object) -> object:
        seen.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await call(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    return seen


async def _tokens(token: str) -> int:
    response = await AsyncClient().get("/api/tokens/", headers={"authorization": f"Token {token}"})
    return response.status_code


def test_sync_chain_is_the_last_middleware():
    assert settings.MIDDLEWARE[-1] == "core.middleware.SyncChain"


def test_an_asgi_request_switches_threads_a_few_times_only(switches, token):
    assert sync.async_to_sync(_tokens)(token) == 200

    assert not any(name.endswith(("process_request", "process_response")) for name in switches)
    assert len(switches) <= 6, switches


def test_without_it_every_middleware_switches_twice(switches, token):
    with override_settings(MIDDLEWARE=settings.MIDDLEWARE[:-1]):
        assert sync.async_to_sync(_tokens)(token) == 200

    assert len([name for name in switches if name.endswith("process_request")]) >= 3
    assert len(switches) > 6
