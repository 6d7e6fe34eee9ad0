"""`Authorization: Token <key>` against the hashed, expiring API tokens (django-rest-knox)."""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.settings import knox_settings
from rest_framework import exceptions

from accounts.models import ApiToken

# Keys are hex (legacy DRF keys too); anything else cannot match and must not reach a query
# (a NUL byte is an error in PostgreSQL, a non-UTF-8 byte one in knox's decoding).
_KEY = re.compile(rb"[0-9A-Za-z_-]{1,256}")


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's authentication; a use renews the token and records when it was used, at most
    once per `MIN_REFRESH_INTERVAL`, so a busy client does not write the row each request."""

    def authenticate_credentials(self, token: bytes) -> Any:
        if not _KEY.fullmatch(token):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token: ApiToken) -> bool:
        # knox also sweeps the user's other expired tokens here, a query on every request (a
        # chat's SQL budget is 12 statements); `token_issue` sweeps them instead.
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False

    def renew_token(self, auth_token: ApiToken) -> None:
        now = timezone.now()
        last = auth_token.last_used
        if last is not None and (now - last).total_seconds() < knox_settings.MIN_REFRESH_INTERVAL:
            return
        auth_token.expiry = now + knox_settings.TOKEN_TTL
        auth_token.last_used = now
        ApiToken.objects.filter(pk=auth_token.pk).update(expiry=auth_token.expiry, last_used=now)


class TokenScheme(OpenApiAuthenticationExtension):
    """The scheme in the OpenAPI document: the same `tokenAuth` as before the keys were hashed."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=knox_settings.AUTH_HEADER_PREFIX
        )
