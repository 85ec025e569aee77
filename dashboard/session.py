"""The dashboard's sign-in state, kept server-side in Django's cache session backend.

The browser holds only an opaque session id (`HttpOnly`, `SameSite=Lax`); the session holds the
users service's token, its expiry and who the user is (dni, name, role, as `/api/user/me` said at
sign-in). Signing out deletes the session, so an old cookie is worth nothing. The session outlives
the token by `EXPIRED_NOTICE_SECONDS` only to say "your session expired" on the next visit. Every
dashboard view asks the users service again who the token belongs to (cached per token by
`caller_for_token`), so a refused token ends the session wherever it shows up.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import jwt
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from dashboard.auth import caller_for_token, token_cache_key
from dashboard.clients import Upstreams, upstreams_for
from dashboard.errors import InvalidToken, PermissionDenied, UpstreamError, UpstreamRejected
from dashboard.types import User

TOKEN_KEY = "token"  # noqa: S105 - a session key name, not a secret
EXPIRES_KEY = "token_exp"
USER_KEY = "usuario"

# How long after the token expires its session is kept, to tell the person why they must sign in again.
EXPIRED_NOTICE_SECONDS = 3600

View = Callable[..., HttpResponse]


def token_expiry(token: str) -> dt.datetime | None:
    """The token's `exp` as an aware datetime, or None when it has none.

    Read WITHOUT checking the signature: it only bounds how long the cookie lives. Who the token
    belongs to is always asked of the users service (or checked with JWT_SECRET when configured).
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    return dt.datetime.fromtimestamp(exp, tz=dt.UTC)


def sign_in(request: HttpRequest, *, token: str, user: User) -> None:
    """Start a fresh session for `user`: new session key and CSRF token (no fixation)."""
    request.session.flush()
    rotate_token(request)
    expires = token_expiry(token)
    max_expiry = timezone.now() + dt.timedelta(seconds=request.session.get_session_cookie_age())
    if expires is None or expires > max_expiry:
        expires = max_expiry
    request.session[TOKEN_KEY] = token
    request.session[EXPIRES_KEY] = int(expires.timestamp())
    request.session[USER_KEY] = {"dni": user.dni, "nombre": user.nombre, "apellido": user.apellido,
                                 "email": user.email, "role": user.role}
    request.session.set_expiry(expires + dt.timedelta(seconds=EXPIRED_NOTICE_SECONDS))


def sign_out(request: HttpRequest) -> None:
    request.session.flush()


def session_token(request: HttpRequest) -> str | None:
    """The stored token while it has not expired."""
    token = request.session.get(TOKEN_KEY)
    expires = request.session.get(EXPIRES_KEY)
    if not isinstance(token, str) or not isinstance(expires, int):
        return None
    if expires <= timezone.now().timestamp():
        return None
    return token


def session_user(request: HttpRequest) -> User | None:
    """Who signed in, as stored at sign-in (used only when the users service cannot be asked)."""
    data: Any = request.session.get(USER_KEY)
    if not isinstance(data, dict):
        return None
    try:
        return User(dni=data["dni"], email=data.get("email", ""), nombre=data.get("nombre", ""),
                    apellido=data.get("apellido", ""), role=data["role"])
    except KeyError:
        return None


def safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    """`candidate` when it is a local path of this site, else None (no open redirects)."""
    if candidate and candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def login_url(next_path: str | None) -> str:
    url = reverse("dashboard:login")
    return f"{url}?{urlencode({'next': next_path})}" if next_path else url


def redirect_to_login(request: HttpRequest) -> HttpResponse:
    """To /login?next=<this page>; an HTMX request gets `HX-Redirect` so the whole page moves."""
    response: HttpResponse
    if getattr(request, "htmx", False):
        # The page the person is on, not the fragment URL htmx asked for.
        current = request.htmx.current_url_abs_path
        response = HttpResponseClientRedirect(login_url(safe_next(request, current)))
    else:
        next_path = request.get_full_path() if request.method in ("GET", "HEAD") else None
        response = HttpResponseRedirect(login_url(next_path))
    patch_vary_headers(response, ("HX-Request",))
    return response


def _token_refused(token: str, upstreams: Upstreams) -> bool:
    """Ask the users service again, past the cache, whether `token` is still accepted."""
    cache.delete(token_cache_key(token))
    try:
        caller_for_token(token, upstreams)
    except InvalidToken:
        return True
    except UpstreamError:  # cannot tell: the original error stands
        return False
    return False


def _end_session(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    messages.warning(request, _("Su sesión ya no es válida. Vuelva a iniciar sesión."))
    return redirect_to_login(request)


def login_required_dashboard(view: View) -> View:
    """Load the signed-in caller into `request.dashboard_user` / `request.upstreams`, or go to login."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        token = session_token(request)
        if token is None:
            # A token past its expiry, or a session cookie whose session is gone (expired, or
            # dropped by the server): either way the person was signed in and should know why not now.
            if request.session.get(TOKEN_KEY) or settings.SESSION_COOKIE_NAME in request.COOKIES:
                sign_out(request)
                messages.warning(request, _("Su sesión expiró. Vuelva a iniciar sesión."))
            return redirect_to_login(request)
        upstreams = upstreams_for(token)
        try:
            user = caller_for_token(token, upstreams)
        except InvalidToken:
            return _end_session(request)
        except UpstreamError:
            # The users service is down: reading can go on as the signed, unexpired session says
            # (the page shows a banner for whatever it cannot load); changing anything cannot.
            user = session_user(request)
            if user is None or request.method not in ("GET", "HEAD"):
                raise
        request.dashboard_user = user
        request.upstreams = upstreams
        try:
            return view(request, *args, **kwargs)
        except UpstreamRejected as exc:
            # /api/user/me is cached for a while, so a token the users service has since refused
            # shows up first as a 401/403 on some other call (it says 403 for a bad token too).
            if exc.status in (401, 403) and _token_refused(token, upstreams):
                return _end_session(request)
            raise

    return wrapper


def admin_required(view: View) -> View:
    """For ADMIN only (a 403 page otherwise); stack it under `login_required_dashboard`."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = getattr(request, "dashboard_user", None)
        if user is None or not user.is_admin:
            raise PermissionDenied()
        return view(request, *args, **kwargs)

    return wrapper
