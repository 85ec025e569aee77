"""Fixed-window rate limits kept in the configured cache (shared across workers with Redis)."""
from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import cache
from django.http import HttpRequest

from dashboard import metrics

logger = logging.getLogger("dashboard.ratelimit")


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "") or "desconocido"


def hit(scope: str, identity: str, *, limit: int, window: int) -> int | None:
    """Count one hit; None while under `limit` per `window` seconds, else seconds to wait.

    With the cache down nothing is counted (limits fail open): refusing every request because a
    counter cannot be read would turn a cache outage into a full outage."""
    try:
        return _hit(scope, identity, limit=limit, window=window)
    except Exception as exc:  # noqa: BLE001 - backends raise their own types
        logger.warning("rate limit not counted: cache unavailable (%s)", type(exc).__name__)
        return None


def _hit(scope: str, identity: str, *, limit: int, window: int) -> int | None:
    now = time.time()
    window_start = int(now // window) * window
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    key = f"rl:{scope}:{digest}:{window_start}"
    if cache.add(key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window + 1)
            count = 1
    if count > limit:
        metrics.record_rate_limited(scope)
        return max(int(window_start + window - now) + 1, 1)
    return None
