"""Fixtures for privacy tests: a person with something of every kind, and another beside them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from orders import services as orders
from orders.models import Order, Product
from retrieval import index
from tests.conftest import client_for
from tests.retrieval.conftest import upload

CATALOG = Path(__file__).resolve().parents[2] / "chat" / "demo" / "catalog.json"


@pytest.fixture(autouse=True)
def _offline_settings(settings: Any) -> Iterator[None]:
    """The offline assistant and the hashing embedder, whatever `.env` says."""
    settings.LLM_PROVIDER = "local"
    settings.LLM_FALLBACKS = []
    settings.EMBEDDER = "hashing"
    settings.EMBEDDING_DIM = 384
    settings.RETRIEVAL_MIN_SCORE = 0.05
    settings.THROTTLE_CHAT = "1000/min"
    settings.THROTTLE_AUTH = "1000/min"
    index.reset_cache()
    yield
    index.reset_cache()


@dataclass
class Person:
    """A user with conversations (and so memories), a private document and two orders, each
    holding a phrase of their own (``secret``) so a trace of them can be looked for."""

    user: User
    api: APIClient
    secret: str
    conversations: list[int]
    document: int
    orders: list[Order]


def chat(api: APIClient, message: str, conversation: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation is not None:
        body["conversation"] = conversation
    response = api.post("/api/chat/", body, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.fixture
def make_person(make_user: Callable[..., User], db: None) -> Callable[..., Person]:
    if not Product.objects.exists():
        orders.catalog_load(products=json.loads(CATALOG.read_text()))

    def make(username: str, secret: str, *, conversations: int = 2, **extra: Any) -> Person:
        user = make_user(username, **extra)
        api = client_for(user)
        ids: list[int] = []
        for n in range(conversations):
            first = chat(api, f"My {secret} is number {n}, please remember it")
            chat(api, f"What about the {secret}?", first["conversation"])
            ids.append(first["conversation"])
        uploaded = upload(api, "private.txt", f"Private note: the {secret} opens the shed.")
        assert uploaded.status_code == 201, uploaded.content
        margherita = Product.objects.get(sku="PZ-MARG")
        orders.item_add(user=user, product=margherita, quantity=2, note=f"{secret} at the door")
        confirmed = orders.order_confirm(user=user)
        orders.item_add(user=user, product=margherita, quantity=1, note=f"ring the {secret}")
        orders.item_add(user=user, product=margherita, quantity=1, note="no basil")
        draft = Order.objects.get(user=user, status=Order.Status.DRAFT)
        return Person(user, api, secret, ids, uploaded.json()["id"], [confirmed, draft])

    return make


@pytest.fixture
def alice(make_person: Callable[..., Person]) -> Person:
    return make_person("alice", "garagecode")


@pytest.fixture
def bob(make_person: Callable[..., Person]) -> Person:
    return make_person("bob", "lockerpin")


def delete_account(api: APIClient, password: str | None) -> Any:
    body = {} if password is None else {"password": password}
    return api.delete("/api/me/", body, format="json")
