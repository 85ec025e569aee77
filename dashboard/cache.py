"""Django's Redis cache, counting the operations that fail (`orchestrator_cache_errors_total`).

`CACHE_URL=redis://...` selects it (see settings): same behaviour as Django's own backend, the
failure still raises; only the count is added, by operation (get, add, incr...).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import RedisError

from dashboard import metrics

OPERATIONS = ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many", "delete_many",
              "clear")


def _counting(operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except RedisError:
            metrics.record_cache_error(operation)
            raise

    return wrapper


CountingRedisCacheClient = type(
    "CountingRedisCacheClient", (RedisCacheClient,),
    {name: _counting(name, getattr(RedisCacheClient, name)) for name in OPERATIONS},
)


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = CountingRedisCacheClient
