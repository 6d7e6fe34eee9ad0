"""Production settings: `check --deploy` is clean, and a missing SECRET_KEY stops start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "TALLY_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "k3J9-very-long-random-production-secret-0123456789-abcdefghij-XYZ!",
    "ALLOWED_HOSTS": "tally.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    settings = {**PRODUCTION, "SECRET_KEY": ""}

    result = manage("check", **settings)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
