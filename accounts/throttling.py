"""Limits on the unauthenticated endpoints: registration per network and overall, login per
address and per account. Every limit counts in the shared cache and answers 429 + Retry-After."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core.client_ip import client_ip
from core.throttling import SettingRateThrottle


class AuthRateThrottle(SettingRateThrottle):
    """`THROTTLE_AUTH` logins per client IP, whoever the request claims to be."""

    scope = "auth"
    rate_setting = "THROTTLE_AUTH"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.key_for(client_ip(request))


def signup_network(address: str) -> str:
    """The network a registration counts against: the IPv4 address, or the IPv6 /64.

    One IPv6 subscriber usually holds a whole /64, so its addresses are one client. Anything
    that is not an address shares one bucket rather than escaping the limit.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class SignupNetworkThrottle(SettingRateThrottle):
    """`THROTTLE_SIGNUP` registrations per IPv4 address or IPv6 /64."""

    scope = "signup"
    rate_setting = "THROTTLE_SIGNUP"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.key_for(signup_network(client_ip(request)))


class SignupGlobalThrottle(SettingRateThrottle):
    """`SIGNUP_GLOBAL_RATE` registrations from everyone together: a ceiling on the free
    tokens a botnet of addresses can farm in an hour."""

    scope = "signup_global"
    rate_setting = "SIGNUP_GLOBAL_RATE"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.key_for("all")


class LoginAccountThrottle(SettingRateThrottle):
    """`THROTTLE_LOGIN_ACCOUNT` logins per username (case-folded), from any address."""

    scope = "login_account"
    rate_setting = "THROTTLE_LOGIN_ACCOUNT"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data
        name = data.get("username") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            return None  # the serializer refuses it; nothing to count against
        # Hashed: a cache key stays short and printable whatever the name holds.
        return self.key_for(hashlib.sha256(name.lower().encode()).hexdigest())


class FirstRefusalThrottling(APIView):
    # Stops at the first limit that refuses, so a refused request is not also counted by the
    # limits after it (DRF asks every throttle): one address hammering registration must not
    # use up everyone's global budget, nor one address a victim account's login budget.
    # (A comment, not a docstring: the OpenAPI document would show it on every such view.)

    def check_throttles(self, request: Request) -> None:
        throttle: BaseThrottle
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                # None when the rate just changed; DRF passes it on too (its stub says float).
                self.throttled(request, throttle.wait())  # type: ignore[arg-type]


class PasswordChangeThrottle(SettingRateThrottle):
    """`THROTTLE_LOGIN_ACCOUNT` password changes per user: a stolen token must not make the
    current-password check a way to guess the password."""

    scope = "password_change"
    rate_setting = "THROTTLE_LOGIN_ACCOUNT"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.key_for(str(request.user.pk))
