"""The Redis cache, failing open: while Redis is unreachable a read is a miss and a write is
dropped, so the throttles and the chat cache degrade instead of turning requests into 500s."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ResilientRedisCache(RedisCache):
    """Django's `RedisCache`, except that an unreachable server reads as a miss and a write to
    it is skipped (other Redis errors still raise).

    So while Redis is down the chat throttle lets requests through (the ledger, not the
    throttle, is the quota) and the chat cache misses; `/api/health/` still reports the cache
    as failing, since what it stores does not read back.
    """

    warn_every_s = 10.0
    _warned_at = float("-inf")

    def _guard(self, operation: str, call: Callable[[], T], fallback: T) -> T:
        try:
            return call()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            now = time.monotonic()
            if now - ResilientRedisCache._warned_at >= self.warn_every_s:  # one line per burst
                ResilientRedisCache._warned_at = now
                log.warning("cache %s skipped, Redis is unreachable: %s", operation, exc)
            return fallback

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._guard("get", partial(super().get, key, default, version), default)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        self._guard("set", partial(super().set, key, value, timeout, version), None)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._guard("add", partial(super().add, key, value, timeout, version), False)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._guard("delete", partial(super().delete, key, version), False)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._guard("has_key", partial(super().has_key, key, version), False)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return self._guard("get_many", partial(super().get_many, keys, version), {})

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return self._guard(
            "set_many", partial(super().set_many, data, timeout, version), list(data)
        )
