"""Fixtures for order tests: the demo catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orders import services

CATALOG = Path(__file__).resolve().parents[2] / "chat" / "demo" / "catalog.json"


@pytest.fixture
def catalog(db: None) -> list[dict[str, Any]]:
    """The demo catalog, loaded; returns its products as the file lists them."""
    products: list[dict[str, Any]] = json.loads(CATALOG.read_text())
    services.catalog_load(products=products)
    return products
