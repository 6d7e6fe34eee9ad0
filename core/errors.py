"""One error format for the whole API: `{"detail", "code", "errors"?}`, whatever raised it.

Each app's domain errors subclass `DomainError` and carry their status and `code`; this module
is the one place that turns them (and DRF's and Django's own errors) into a JSON response.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.db import recover_when_back


class DomainError(Exception):
    """Base of every app's domain errors: the HTTP status and `code` the API answers with.

    Apps keep their errors in their own `exceptions.py` and say there how each reads over
    HTTP; `exception_handler` below is the one place that turns them into responses, so this
    module needs to import no app.
    """

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "invalid"

    def body(self) -> dict[str, Any]:
        """The JSON body: `detail` and `code`, and whatever else a client can act on."""
        return {"detail": str(self), "code": self.code}


class FieldError(DomainError):
    """A domain error about one input field, shaped like a serializer's field errors."""

    field: str = "non_field_errors"

    def body(self) -> dict[str, Any]:
        return {"detail": "Invalid input.", "code": "invalid", "errors": {self.field: [str(self)]}}


class ServiceUnavailable(DomainError):
    """The server cannot take this request now, though it may in a moment: 503 with
    `Retry-After`. Nothing was charged."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "service_unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.code = code or self.code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {**super().body(), "retry_after": self.retry_after}


# Errors that say the database is out of reach (or out of connections), not that a statement
# was wrong.
UNAVAILABLE = (OperationalError, InterfaceError)


def unavailable(exc: OperationalError | InterfaceError) -> ServiceUnavailable:
    """A database error that is the database's state, not the request's, as a 503: every
    connection of the pool busy past its timeout, or the database unreachable (restarting,
    a connection it killed). Django wraps the driver's errors, so the cause tells which."""
    retry_after = settings.DB_RETRY_AFTER_S
    if type(exc.__cause__).__name__ == "PoolTimeout":  # psycopg_pool's, without importing it
        return ServiceUnavailable(
            "The server is busy; try again shortly.", code="overloaded", retry_after=retry_after
        )
    recover_when_back()  # so that the pool serves again as soon as the database does
    return ServiceUnavailable(
        "The database is unavailable; try again shortly.",
        code="database_unavailable",
        retry_after=retry_after,
    )


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and body for a domain error; anything unexpected is a plain 500."""
    if isinstance(exc, UNAVAILABLE):
        exc = unavailable(exc)
    if isinstance(exc, DomainError):
        return exc.status_code, exc.body()
    return status.HTTP_500_INTERNAL_SERVER_ERROR, {
        "detail": "Internal server error.",
        "code": "server_error",
    }


def _field_errors(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {
            key: value if isinstance(value, list | dict) else [value]
            for key, value in detail.items()
        }
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _first_code(codes: Any) -> str:
    while isinstance(codes, list | dict):
        if not codes:
            return "error"
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, with every body in the one format."""
    if isinstance(exc, (DomainError, *UNAVAILABLE)):
        http_status, body = error_body(exc)
        headers = {"Retry-After": str(body["retry_after"])} if "retry_after" in body else None
        return Response(body, status=http_status, headers=headers)

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": "Invalid input.",
            "code": "invalid",
            "errors": _field_errors(exc.detail),
        }
        return response

    data: dict[str, Any] = {"detail": str(exc.detail), "code": _first_code(exc.get_codes())}
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        data["retry_after"] = math.ceil(wait)
    response.data = data
    return response


# --- Django's own handlers, so nothing under /api/ is ever an HTML page -------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": "Internal server error.", "code": "server_error"}, status=500
        )
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": "Permission denied.", "code": "permission_denied"}, status=403
        )
    return defaults.permission_denied(request, exception)


# --- The error body in the OpenAPI document -----------------------------------------------------


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="A stable machine-readable code.")
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors, on validation failures: field name → messages.",
    )


class InsufficientTokensOutput(ErrorOutput):
    tokens = serializers.IntegerField(help_text="The balance now.")
    required = serializers.IntegerField(help_text="What the request costs.")  # type: ignore[assignment]


class ThrottledOutput(ErrorOutput):
    retry_after = serializers.IntegerField(help_text="Seconds to wait (also in Retry-After).")


class UnavailableOutput(ErrorOutput):
    retry_after = serializers.IntegerField(
        required=False, help_text="Seconds to wait (also in Retry-After), when known."
    )


_DESCRIPTIONS = {
    400: "Invalid input.",
    401: "Authentication credentials were missing or invalid.",
    402: "Not enough tokens.",
    403: "Not allowed.",
    404: "Not found.",
    409: "Conflict.",
    413: "Payload too large.",
    415: "The request body's media type is not supported.",
    422: "Unprocessable.",
    429: "Too many requests.",
    502: "The model provider failed.",
    503: "Service unavailable: the model, the database or this server cannot take the request"
    " now (nothing was charged); try again after Retry-After.",
    504: "The model provider timed out.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, each with the error body."""
    bodies: dict[int, type[serializers.Serializer]] = {
        402: InsufficientTokensOutput,
        429: ThrottledOutput,
        503: UnavailableOutput,
    }
    return {
        code: OpenApiResponse(
            response=bodies.get(code, ErrorOutput), description=_DESCRIPTIONS[code]
        )
        for code in codes
    }
