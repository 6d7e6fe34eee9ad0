"""A worker loads what its first chat needs when the server starts it, before any request: the
default model's client, the shared index and the catalog; and importing the application
touches nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orders import catalog
from providers import registry
from retrieval import index
from retrieval.models import SHARED_SCOPE
from retrieval.services import document_upload

pytestmark = pytest.mark.django_db(transaction=True)


def lifespan(app: Any) -> list[dict[str, Any]]:
    """Run the ASGI lifespan protocol as uvicorn does: startup, then shutdown."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    return sent


def test_starting_a_worker_builds_the_model_client_and_loads_the_shared_index_and_catalog(
    staff, settings
):
    from config.asgi import application

    settings.LLM_PROVIDER = "local"
    document_upload(owner=staff, data=b"We open at nine.", filename="faq.txt", shared=True)
    registry.reset()
    index.reset_cache()
    catalog.changed()

    assert lifespan(application) == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert "local" in registry._instances
    assert SHARED_SCOPE in index._cache
    assert catalog._snapshot is not None
