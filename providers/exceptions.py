"""The one exception hierarchy every provider raises instead of its SDK's own errors."""

from __future__ import annotations


class ProviderError(Exception):
    """A model call failed. ``retryable`` says whether another provider or a retry may help."""

    retryable: bool = False
    code: str = "provider_error"

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """The vendor refused our credentials (401/403). Retrying will not help."""

    code = "provider_auth_failed"


class ProviderRateLimited(ProviderError):
    """The vendor asked us to slow down (429); ``retry_after`` carries its hint in seconds."""

    retryable = True
    code = "provider_rate_limited"


class ProviderTimeout(ProviderError):
    """The vendor did not answer within ``LLM_TIMEOUT_S``."""

    retryable = True
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

    code = "provider_not_configured"


class ModelNotAllowed(Exception):
    """A request named a provider or model outside the configured allow-list."""

    def __init__(self, message: str, *, allowed: dict[str, list[str]]):
        super().__init__(message)
        self.allowed = allowed
