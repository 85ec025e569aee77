"""The shared cache (Redis in production) as the code uses it when it may be down.

- `cache_call`: the operation is needed (locks, idempotency): a cache that cannot answer is a 503
  `cache_no_disponible` (`CacheUnavailable`), never a 500.
- `cache_try`: the operation only helps (rate limits, the `/api/user/me` cache): a failure is
  logged and `default` returned, so a dead Redis slows requests down instead of failing them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dashboard.errors import CacheUnavailable

logger = logging.getLogger("dashboard.cache")

T = TypeVar("T")


def cache_call(operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one cache operation; a cache that cannot answer (Redis down, a reset connection) -> 503."""
    try:
        return operation(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - backends raise their own types (redis.ConnectionError, OSError...)
        logger.error("shared cache unavailable: %s", type(exc).__name__)
        raise CacheUnavailable() from exc


def cache_try(operation: Callable[..., T], *args: Any, default: Any = None, **kwargs: Any) -> T | Any:
    """Run one cache operation that only helps; on failure log it and return `default`."""
    try:
        return operation(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - see cache_call
        logger.warning("shared cache unavailable (%s); going on without it", type(exc).__name__)
        return default
