"""Who the caller is: the bearer token of an API request, checked by the users service.

The users service answers 403 for a bad token as well as for a missing role, so a 403 on
`/api/user/me` (which any valid token may call) means the token was refused. The answer is cached
per token for `ME_CACHE_SECONDS`; the cache key is a hash, never the token itself. In the last
quarter of that time a request still uses the cached answer and refreshes it in the background, so
a steady caller never waits for `/api/user/me`.

With `JWT_SECRET` the token's signature and expiry are checked here, and a view that needs nothing
of the caller before its first upstream stage (`api_caller(..., deferred=True)`) gets a
`PendingCaller`: `/api/user/me` then runs concurrently with that stage instead of before it, and
`confirmed()` waits for it before the answer leaves. ADMIN-only actions never defer: the users
service's role is authoritative, not the token's claim.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from concurrent.futures import Future

import jwt
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from dashboard import ratelimit
from dashboard.clients import Upstreams, upstreams_for
from dashboard.concurrency import submit
from dashboard.errors import InvalidToken, NotAuthenticated, PermissionDenied, UpstreamRejected
from dashboard.sharedcache import cache_try
from dashboard.types import User

logger = logging.getLogger("dashboard.auth")

# The scheme is case-insensitive (RFC 7235 §2.1): "bearer <token>" is as good as "Bearer <token>".
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9._~+/=-]{1,4096})$", re.IGNORECASE)


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    match = _BEARER.match(header.strip())
    if not match:
        raise NotAuthenticated()
    return match.group(1)


def bearer_token_or_none(request: HttpRequest) -> str | None:
    match = _BEARER.match(request.headers.get("Authorization", "").strip())
    return match.group(1) if match else None


def token_cache_key(token: str) -> str:
    return "me:" + hashlib.sha256(token.encode()).hexdigest()


def verify_locally(token: str) -> None:
    """With `JWT_SECRET` set, refuse bad signatures and expired tokens without an upstream call."""
    if not settings.JWT_SECRET:
        return
    try:
        jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc


def _cache_seconds(token: str) -> int:
    """How long `/api/user/me` may be cached for this token: never past the token's own `exp`.

    The claim is read without verifying the signature: it only shortens the cache, and the users
    service (or `verify_locally`) still decides whether the token is good.
    """
    seconds = settings.ME_CACHE_SECONDS
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return seconds
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        seconds = min(seconds, int(exp - time.time()))
    return max(seconds, 0)


def _fresh_key(key: str) -> str:
    return key + ":fresco"


def _fetch_me(token: str, upstreams: Upstreams, seconds: int) -> User:
    """Ask the users service who the token is (a 401/403 means it refused the token) and cache it;
    a good token is remembered as a signed-in caller for the rate limits."""
    try:
        user = upstreams.users.me()
    except UpstreamRejected as exc:
        if exc.status in (401, 403):
            ratelimit.forget_token(token)
            raise InvalidToken() from exc
        raise
    if seconds > 0:
        key = token_cache_key(token)
        cache_try(cache.set, key, user, seconds)
        # The "fresh" mark lives 3/4 as long: after it, hits refresh the answer ahead of expiry.
        cache_try(cache.set, _fresh_key(key), True, max(seconds * 3 // 4, 1))
    ratelimit.remember_token(token)
    return user


def _refresh_in_background(token: str, upstreams: Upstreams, seconds: int) -> None:
    def refresh() -> None:
        try:
            _fetch_me(token, upstreams, seconds)
        except Exception as exc:  # noqa: BLE001 - the cached answer stands until it expires
            logger.info("background refresh of /api/user/me failed: %s", type(exc).__name__)

    submit(refresh)


def _cached_caller(token: str, upstreams: Upstreams, seconds: int) -> User | None:
    if seconds <= 0:
        return None
    key = token_cache_key(token)
    found = cache_try(cache.get_many, [key, _fresh_key(key)], default={}) or {}
    user = found.get(key)
    # One request (the one that wins `add`) refreshes a stale answer; the others keep using it.
    if user is not None and _fresh_key(key) not in found and cache_try(cache.add, _fresh_key(key), True, 30):
        _refresh_in_background(token, upstreams, seconds)
    return user


def caller_for_token(token: str, upstreams: Upstreams) -> User:
    verify_locally(token)
    seconds = _cache_seconds(token)
    user = _cached_caller(token, upstreams, seconds)
    if user is None:
        user = _fetch_me(token, upstreams, seconds)
    return user


class PendingCaller:
    """The caller while `/api/user/me` is in flight: reading any attribute waits for the answer."""

    def __init__(self, future: Future[User]) -> None:
        self._future = future

    def resolve(self) -> User:
        return self._future.result()

    def __getattr__(self, name: str) -> object:
        return getattr(self.resolve(), name)


def confirmed(caller: User | PendingCaller) -> User:
    """The caller once the users service has answered (raises what it answered: 401, 503...)."""
    return caller.resolve() if isinstance(caller, PendingCaller) else caller


def api_caller(request: HttpRequest, *, admin: bool = False,
               deferred: bool = False) -> tuple[User | PendingCaller, Upstreams]:
    """The authenticated caller of an API request and the clients acting for it.

    `deferred=True` (a view that calls `confirmed()` before answering): with `JWT_SECRET` and no
    cached answer, `/api/user/me` starts now and runs alongside the view's first stage.
    """
    token = bearer_token(request)
    upstreams = upstreams_for(token)
    if deferred and not admin and settings.JWT_SECRET:
        verify_locally(token)
        seconds = _cache_seconds(token)
        user = _cached_caller(token, upstreams, seconds)
        if user is None:
            return PendingCaller(submit(lambda: _fetch_me(token, upstreams, seconds))), upstreams
        return user, upstreams
    user = caller_for_token(token, upstreams)
    if admin and not user.is_admin:
        raise PermissionDenied()
    return user, upstreams
