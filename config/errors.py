"""One error format for the whole API: `{"detail", "code", "errors"?}`, whatever raised it.

Domain errors stay free of HTTP in their apps; this module is the one place that maps them
(and DRF's and Django's own errors) to a status code and a JSON body.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.exceptions import (
    ApiTokenNotFound,
    InvalidCredentials,
    LoginLockedOut,
    UsernameTaken,
    WrongPassword,
)
from billing.exceptions import InsufficientTokens, InvalidAmount, TopUpNotAllowed
from chat.exceptions import (
    ConversationNotFound,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    TurnExpired,
)
from orders.exceptions import OrderEmpty, OrderError, OrderNotEditable, OrderNotFound
from privacy.exceptions import LastSuperuser, PasswordMismatch
from providers.exceptions import (
    ModelNotAllowed,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderTimeout,
)
from retrieval.exceptions import (
    DocumentNotFound,
    DocumentQuotaExceeded,
    DocumentTooLarge,
    EmbedderMismatch,
    EmbedderNotConfigured,
    SharingNotAllowed,
    UnreadableDocument,
)


def _insufficient_tokens(exc: InsufficientTokens) -> tuple[int, dict[str, Any]]:
    return status.HTTP_402_PAYMENT_REQUIRED, {
        "detail": str(exc),
        "code": "insufficient_tokens",
        "tokens": exc.balance,
        "required": exc.required,
    }


def _field(name: str) -> Callable[[Exception], tuple[int, dict[str, Any]]]:
    """A domain error about one input field, shaped like the serializers' field errors."""
    return lambda exc: (
        status.HTTP_400_BAD_REQUEST,
        {"detail": "Invalid input.", "code": "invalid", "errors": {name: [str(exc)]}},
    )


def _login_locked_out(exc: LoginLockedOut) -> tuple[int, dict[str, Any]]:
    return status.HTTP_429_TOO_MANY_REQUESTS, {
        "detail": str(exc),
        "code": "locked_out",
        "retry_after": exc.retry_after,
    }


def _model_not_allowed(exc: ModelNotAllowed) -> tuple[int, dict[str, Any]]:
    return status.HTTP_400_BAD_REQUEST, {
        "detail": str(exc),
        "code": "model_not_allowed",
        "allowed": exc.allowed,
    }


def _provider_error(exc: ProviderError) -> tuple[int, dict[str, Any]]:
    """Upstream failures: 504 when the model timed out, 503 when none can serve, else 502."""
    http_status: int
    if isinstance(exc, ProviderTimeout):
        http_status = status.HTTP_504_GATEWAY_TIMEOUT
    elif isinstance(exc, ProviderNotConfigured | ProviderRateLimited):
        http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    else:
        http_status = status.HTTP_502_BAD_GATEWAY
    body: dict[str, Any] = {"detail": str(exc), "code": exc.code}
    if exc.retry_after is not None:
        body["retry_after"] = math.ceil(exc.retry_after)
    return http_status, body


def _plain(code: str, http_status: int) -> Callable[[Exception], tuple[int, dict[str, Any]]]:
    return lambda exc: (http_status, {"detail": str(exc), "code": code})


# Domain error type → (status, body). Apps register nothing themselves: this table is the map.
DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], tuple[int, dict[str, Any]]]] = {
    InsufficientTokens: _insufficient_tokens,
    InvalidAmount: _plain("invalid_amount", status.HTTP_400_BAD_REQUEST),
    InvalidCredentials: _plain("invalid_credentials", status.HTTP_400_BAD_REQUEST),
    UsernameTaken: _field("username"),
    WrongPassword: _field("old_password"),
    LoginLockedOut: _login_locked_out,
    ApiTokenNotFound: _plain("not_found", status.HTTP_404_NOT_FOUND),
    ModelNotAllowed: _model_not_allowed,
    ProviderError: _provider_error,
    ConversationNotFound: _plain("not_found", status.HTTP_404_NOT_FOUND),
    IdempotencyKeyInUse: _plain("idempotency_key_in_use", status.HTTP_409_CONFLICT),
    TurnExpired: _plain("turn_expired", status.HTTP_504_GATEWAY_TIMEOUT),
    OrderNotFound: _plain("not_found", status.HTTP_404_NOT_FOUND),
    OrderNotEditable: _plain("order_not_editable", status.HTTP_409_CONFLICT),
    OrderEmpty: _plain("order_empty", status.HTTP_400_BAD_REQUEST),
    OrderError: lambda exc: (status.HTTP_400_BAD_REQUEST, {"detail": str(exc), "code": exc.code}),
    IdempotencyKeyMismatch: _plain(
        "idempotency_key_mismatch", status.HTTP_422_UNPROCESSABLE_ENTITY
    ),
    DocumentTooLarge: _plain("too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    DocumentQuotaExceeded: _plain("document_quota_exceeded", status.HTTP_403_FORBIDDEN),
    UnreadableDocument: _plain("unreadable_document", status.HTTP_400_BAD_REQUEST),
    DocumentNotFound: _plain("not_found", status.HTTP_404_NOT_FOUND),
    SharingNotAllowed: _plain("permission_denied", status.HTTP_403_FORBIDDEN),
    TopUpNotAllowed: _plain("permission_denied", status.HTTP_403_FORBIDDEN),
    EmbedderMismatch: _plain("index_embedder_mismatch", status.HTTP_503_SERVICE_UNAVAILABLE),
    EmbedderNotConfigured: _plain("embedder_not_configured", status.HTTP_503_SERVICE_UNAVAILABLE),
    PasswordMismatch: _field("password"),
    LastSuperuser: _plain("last_superuser", status.HTTP_409_CONFLICT),
}


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and body for a domain error; anything unexpected is a plain 500."""
    for exc_type, to_response in DOMAIN_ERRORS.items():
        if isinstance(exc, exc_type):
            return to_response(exc)
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
    if isinstance(exc, tuple(DOMAIN_ERRORS)):
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
    503: "Service unavailable.",
    504: "The model provider timed out.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, each with the error body."""
    bodies: dict[int, type[serializers.Serializer]] = {
        402: InsufficientTokensOutput,
        429: ThrottledOutput,
    }
    return {
        code: OpenApiResponse(
            response=bodies.get(code, ErrorOutput), description=_DESCRIPTIONS[code]
        )
        for code in codes
    }
