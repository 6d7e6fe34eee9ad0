"""Errors of the OpenAI-compatible API, in OpenAI's shape and with the statuses its SDK maps to
its exception classes.

Every error is first Tally's own (`core.errors`: status, `detail`, `code`); `openai_error` then
restates it as `{"error": {"message", "type", "param", "code"}}`:

| Tally                         | status | `type`                  | `code`                  |
|-------------------------------|--------|-------------------------|-------------------------|
| 402 `insufficient_tokens`     | 429    | `insufficient_quota`    | `insufficient_quota`    |
| 401 (no token, a bad one)     | 401    | `invalid_request_error` | `invalid_api_key`       |
| an unknown model              | 404    | `invalid_request_error` | `model_not_found`       |
| a parameter Tally cannot take | 400    | `invalid_request_error` | `unsupported_parameter` |
| other 400s (`param` named)    | 400    | `invalid_request_error` | Tally's code            |
| 429 throttled                 | 429    | `requests`              | `rate_limit_exceeded`   |
| the model's server refused it | 400    | `invalid_request_error` | `provider_invalid_request` |
| 5xx (model failed, busy)      | same   | `server_error`          | Tally's code            |
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.response import Response

from core import errors
from core.errors import DomainError, exception_handler

_EXTRAS = ("retry_after", "tokens", "required", "allowed")


class ModelNotFound(DomainError):
    """No model by that id (HTTP 404, as OpenAI answers)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "model_not_found"


def openai_error(http_status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Tally's error (status and body) as OpenAI's."""
    code = body.get("code")
    message = str(body.get("detail", ""))
    param = None
    if errors := body.get("errors"):
        param, messages = next(iter(errors.items()))
        first = messages[0] if isinstance(messages, list) and messages else messages
        message = str(first) if param in ("non_field_errors", "body") else f"{param}: {first}"
        param = None if param in ("non_field_errors", "body") else param
    kind = "invalid_request_error"
    if http_status == status.HTTP_402_PAYMENT_REQUIRED:
        http_status = status.HTTP_429_TOO_MANY_REQUESTS
        kind = code = "insufficient_quota"
    elif http_status == status.HTTP_401_UNAUTHORIZED:
        code = "invalid_api_key"
    elif http_status == status.HTTP_429_TOO_MANY_REQUESTS:
        kind, code = "requests", "rate_limit_exceeded"
    elif code == "provider_invalid_request":  # the request's parameters, most likely
        http_status = status.HTTP_400_BAD_REQUEST
    elif http_status >= 500:
        kind = "server_error"
    if code == "model_not_found":
        param = "model"
    error = {"message": message, "type": kind, "param": param, "code": code}
    error.update({name: body[name] for name in _EXTRAS if name in body})
    return http_status, {"error": error}


def openai_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler for the `/v1/` views: Tally's, restated in OpenAI's shape."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    response.status_code, response.data = openai_error(response.status_code, response.data)
    error = response.data["error"]
    # OpenAI's SDK retries 429s and 5xx unless told not to: an empty wallet will not fill up
    # by itself, and a 504 after a whole model timeout is not worth two more.
    if error["type"] == "insufficient_quota" or response.status_code in (400, 504):
        response["x-should-retry"] = "false"
    return response


# The site's error handlers (config/urls.py): in OpenAI's shape under `/v1/`, `core.errors`'
# everywhere else.


def _openai(request: HttpRequest, status_code: int, detail: str, code: str) -> JsonResponse | None:
    if not request.path.startswith("/v1/"):
        return None
    _, body = openai_error(status_code, {"detail": detail, "code": code})
    return JsonResponse(body, status=status_code)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    detail = f"Unknown path {request.path}."
    return _openai(request, 404, detail, "not_found") or errors.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _openai(request, 400, "Bad request.", "bad_request") or errors.bad_request(
        request, exception
    )


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _openai(
        request, 403, "Permission denied.", "permission_denied"
    ) or errors.permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _openai(request, 500, "Internal server error.", "server_error") or errors.server_error(
        request
    )
