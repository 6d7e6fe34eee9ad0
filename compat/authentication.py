"""`Authorization: Bearer <Tally API token>`, as every OpenAI client sends its API key."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.request import Request

from accounts.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    """The same hashed, expiring tokens as `Authorization: Token …`, under OpenAI's prefix."""

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        prefix = "Bearer"
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=prefix)
