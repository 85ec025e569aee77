"""Who the caller is: the bearer token of an API request, checked by the users service.

The users service answers 403 for a bad token as well as for a missing role, so a 403 on
`/api/user/me` (which any valid token may call) means the token was refused. The answer is cached
per token for `ME_CACHE_SECONDS`; the cache key is a hash, never the token itself.
"""
from __future__ import annotations

import hashlib
import re
import time

import jwt
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from dashboard.clients import Upstreams, upstreams_for
from dashboard.errors import InvalidToken, NotAuthenticated, PermissionDenied, UpstreamRejected
from dashboard.sharedcache import cache_try
from dashboard.types import User

# The scheme is case-insensitive (RFC 7235 §2.1): "bearer <token>" is as good as "Bearer <token>".
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9._~+/=-]{1,4096})$", re.IGNORECASE)


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    match = _BEARER.match(header.strip())
    if not match:
        raise NotAuthenticated()
    return match.group(1)


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


def caller_for_token(token: str, upstreams: Upstreams) -> User:
    verify_locally(token)
    key = token_cache_key(token)
    seconds = _cache_seconds(token)
    user = cache_try(cache.get, key) if seconds > 0 else None
    if user is None:
        try:
            user = upstreams.users.me()
        except UpstreamRejected as exc:
            if exc.status in (401, 403):
                raise InvalidToken() from exc
            raise
        if seconds > 0:
            cache_try(cache.set, key, user, seconds)
    return user


def api_caller(request: HttpRequest, *, admin: bool = False) -> tuple[User, Upstreams]:
    """The authenticated caller of an API request and the clients acting for it."""
    token = bearer_token(request)
    upstreams = upstreams_for(token)
    user = caller_for_token(token, upstreams)
    if admin and not user.is_admin:
        raise PermissionDenied()
    return user, upstreams
