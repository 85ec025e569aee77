"""Fixed-window rate limits kept in the configured cache (shared across workers with Redis), and
who the client is for them.

The client address is REMOTE_ADDR, or, behind `TRUSTED_PROXY_COUNT` proxies that each append the
address they received from to `X-Forwarded-For`, the entry that many places from the right: the
part of the header a client can write itself is never read.

"Signed-in" API callers are those whose bearer token has been verified once (locally with
JWT_SECRET, or by the users service) and is remembered here until it expires: they spend their
own per-token budget only, so an anonymous flood from the same address never reaches them.

With the cache down nothing is counted or remembered (limits fail open): refusing every request
because a counter cannot be read would turn a cache outage into a full outage.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import time

import jwt
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from dashboard import metrics
from dashboard.sharedcache import cache_try

logger = logging.getLogger("dashboard.ratelimit")

KNOWN_TOKEN_MAX_SECONDS = 24 * 3600


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "desconocido"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote  # not through the configured proxies: only the connection's address is known
    return _address(forwarded[-proxies]) or remote


def _key(scope: str, identity: str, window_start: int) -> str:
    return f"rl:{scope}:{hashlib.sha256(identity.encode()).hexdigest()[:32]}:{window_start}"


def hit(scope: str, identity: str, *, limit: int, window: int) -> int | None:
    """Count one hit; None while under `limit` per `window` seconds, else seconds to wait."""
    try:
        return _hit(scope, identity, limit=limit, window=window)
    except Exception as exc:  # noqa: BLE001 - backends raise their own types
        logger.warning("rate limit not counted: cache unavailable (%s)", type(exc).__name__)
        return None


def _hit(scope: str, identity: str, *, limit: int, window: int) -> int | None:
    now = time.time()
    window_start = int(now // window) * window
    key = _key(scope, identity, window_start)
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


def exceeded(scope: str, identity: str, *, limit: int, window: int) -> int | None:
    """Seconds to wait when `limit` hits were already counted in this window, else None (counts nothing)."""
    now = time.time()
    window_start = int(now // window) * window
    count = cache_try(cache.get, _key(scope, identity, window_start), default=0) or 0
    if count >= limit:
        metrics.record_rate_limited(scope)
        return max(int(window_start + window - now) + 1, 1)
    return None


def reset(scope: str, identity: str, *, window: int) -> None:
    window_start = int(time.time() // window) * window
    cache_try(cache.delete, _key(scope, identity, window_start))


# Signed-in API callers -----------------------------------------------------------------------------
def _known_key(token: str) -> str:
    return "rl-token:" + hashlib.sha256(token.encode()).hexdigest()


def remember_token(token: str) -> None:
    """Called once the token is known to be good: from now on it is a signed-in caller until it expires."""
    seconds = KNOWN_TOKEN_MAX_SECONDS
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        exp = None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        seconds = min(seconds, int(exp - time.time()))
    if seconds > 0:
        cache_try(cache.set, _known_key(token), True, seconds)


def forget_token(token: str) -> None:
    cache_try(cache.delete, _known_key(token))


def token_is_known(token: str) -> bool:
    """A token verified before (or, with JWT_SECRET, one whose signature and expiry check out now)."""
    if settings.JWT_SECRET:
        try:
            jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.PyJWTError:
            return False
        return True
    return bool(cache_try(cache.get, _known_key(token), default=False))
