"""The one exception hierarchy every provider raises instead of its SDK's own errors, each with
the HTTP status and `code` the API answers with."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import status

from core.errors import DomainError


class ProviderError(DomainError):
    """A model call failed. ``retryable`` says whether another provider or a retry may help.

    Upstream failures answer 502, unless the model timed out (504) or none can serve (503).
    """

    retryable: bool = False
    status_code: int = status.HTTP_502_BAD_GATEWAY
    code: str = "provider_error"

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body = super().body()
        if self.retry_after is not None:
            body["retry_after"] = math.ceil(self.retry_after)
        return body


class ProviderAuthError(ProviderError):
    """The vendor refused our credentials (401/403). Retrying will not help."""

    code = "provider_auth_failed"


class ProviderRateLimited(ProviderError):
    """The vendor asked us to slow down (429); ``retry_after`` carries its hint in seconds."""

    retryable = True
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "provider_rate_limited"


class ProviderTimeout(ProviderError):
    """The vendor did not answer within ``LLM_TIMEOUT_S``."""

    retryable = True
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    code = "provider_timeout"


class ProviderInvalidRequest(ProviderError):
    """The vendor rejected the request as malformed (400/404/422). Retrying will not help."""

    code = "provider_invalid_request"


class ProviderUnavailable(ProviderError):
    """The vendor failed or could not be reached (5xx, connection errors)."""

    retryable = True
    code = "provider_unavailable"


class ProviderNotConfigured(ProviderError):
    """A provider was asked for that is unknown or lacks its settings (an API key, the SDK)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "provider_not_configured"


class ModelNotAllowed(DomainError):
    """A request named a provider or model outside the configured allow-list (HTTP 400, with
    the allowed ones)."""

    code = "model_not_allowed"

    def __init__(self, message: str, *, allowed: dict[str, list[str]]):
        super().__init__(message)
        self.allowed = allowed

    def body(self) -> dict[str, Any]:
        return {**super().body(), "allowed": self.allowed}
