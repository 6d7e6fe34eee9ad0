"""`GET /api/health/`: can this process serve? The checks are `HEALTH_CHECKS` in the settings
(the database and cache here; the retrieval index and model provider from their apps).

Anyone (a load balancer) learns only ok or not; the checks' details (hosts, errors, index
sizes) are for staff, and are logged when a check fails.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.db import recover_when_back
from core.errors import UNAVAILABLE

log = logging.getLogger(__name__)


def database() -> str:
    """The default database answers a query. When it does not, the pool is checked again as
    soon as it does (`core.db.recover_when_back`), as after any request it failed."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except UNAVAILABLE:
        recover_when_back()
        raise
    return "ok"


def cache_round_trip() -> str:
    """The default cache gives back what was stored."""
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was stored")
    cache.delete(key)
    return "ok"


def checks() -> dict[str, Callable[[], str]]:
    """`HEALTH_CHECKS`: name → a function that says "ok…" or raises."""
    return {name: import_string(path) for name, path in settings.HEALTH_CHECKS.items()}


class HealthCheckOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Staff only: each check's result."
    )
    duration_ms = serializers.IntegerField(required=False, help_text="Staff only.")


class HealthView(APIView):
    # The default authentication, so a staff token sees the details; no token is fine.
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["health"],
        operation_id="health_retrieve",
        responses={200: HealthCheckOutput, 503: HealthCheckOutput},
        description='200 `{"status": "ok"}` when this server can serve, else 503 '
        '`{"status": "unavailable"}`; no authentication needed. With a staff token, '
        "also each check's result and how long they took.",
    )
    def get(self, request: Request) -> Response:
        started = time.monotonic()
        results: dict[str, str] = {}
        healthy = True
        for name, check in checks().items():
            try:
                results[name] = check()
            except Exception as exc:  # noqa: BLE001 - any failure is what we report
                healthy = False
                results[name] = f"error: {type(exc).__name__}: {exc}"
        body: dict[str, object] = {"status": "ok" if healthy else "unavailable"}
        if not healthy:
            log.warning("health check failed: %s", results)
        if request.user.is_staff:
            body["checks"] = results
            body["duration_ms"] = int((time.monotonic() - started) * 1000)
        return Response(body, status=200 if healthy else 503)
