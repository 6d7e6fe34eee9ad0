"""Several server processes share one database: each sees the others' additions at its next
search, without a restart, whether or not they share the index folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db(transaction=True)

# Run in the other process: find what this process indexed, then index something new.
OTHER_PROCESS = """
from accounts.models import User
from retrieval import selectors, services
alice = User.objects.get(username="alice")
hits = selectors.search(user=alice, query="tiramisu mascarpone", k=3)
print("FOUND", hits[0].title if hits else None)
services.document_upload(owner=alice, data=b"{text}", filename="{name}")
"""


def _database_url() -> str:
    """The test database (not the configured one) as a DATABASE_URL for another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
        return f"postgres://{auth}@{host}/{quote(db['NAME'])}"
    pytest.skip(f"no DATABASE_URL form for {connection.vendor}")


def _other_process(data_dir: Path, *, text: str, name: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "EMBEDDER": "hashing",  # as the test process's settings say
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "shell", "-c", OTHER_PROCESS.format(text=text, name=name)],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("same_machine", [True, False], ids=["shared-folder", "other-machine"])
def test_two_processes_see_each_others_additions(
    user: User, user_api: APIClient, settings: Any, tmp_path: Path, same_machine: bool
) -> None:
    ours = upload(user_api, "dessert.txt", "Tiramisu is layered with mascarpone.").json()
    assert search(user_api, "tiramisu")[0]["document"] == ours["id"]  # loaded and cached here
    folder = settings.DATA_DIR if same_machine else tmp_path / "elsewhere"

    output = _other_process(folder, text="Focaccia is topped with rosemary.", name="bread.txt")

    assert "FOUND dessert" in output
    hits = search(user_api, "focaccia rosemary")
    assert hits and hits[0]["title"] == "bread"
    assert search(user_api, "tiramisu")[0]["document"] == ours["id"]
