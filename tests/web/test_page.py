"""GET / is the web page: plain HTML that loads its own script and stylesheet, which are served
with DEBUG off (WhiteNoise, from what `collectstatic` gathered — as `make run` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

STATIC = Path(__file__).resolve().parents[2] / "web" / "static" / "web"


def test_the_page_is_html_that_loads_its_own_script_and_stylesheet(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<script src="/static/web/app.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/static/web/app.css">' in html
    assert "://" not in html, "the page loads nothing from another site"


def test_the_page_allows_no_inline_or_foreign_scripts(client: Client) -> None:
    policy = client.get("/")["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_the_page_only_answers_reads(client: Client) -> None:
    assert client.post("/").status_code == 405


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript"), ("app.css", "text/css")],
)
def test_static_files_are_served_with_debug_off(
    db: None, settings: Any, tmp_path: Path, name: str, content_type: str
) -> None:
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()  # a fresh handler: WhiteNoise indexes STATIC_ROOT when it is built

    response = client.get(f"/static/web/{name}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response.getvalue() == (STATIC / name).read_bytes()
    response.close()  # sends request_finished, which tidies database connections
