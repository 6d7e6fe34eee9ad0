"""Fixtures for order tests: the demo catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orders import services

CATALOG = Path(__file__).resolve().parents[2] / "chat" / "demo" / "catalog.json"


@pytest.fixture
def catalog(db: None) -> None:
    services.catalog_load(products=json.loads(CATALOG.read_text()))
