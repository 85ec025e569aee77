"""Signing in to the dashboard: the use case behind the login form.

Only failures count against the limits, per account and per client address. DNI and e-mail name
the same account: once an account has signed in here, its e-mail is remembered (hashed) as its DNI,
so failures by either identifier land on one counter. Every refusal reads the same, whether or not
the account exists.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from dashboard import ratelimit
from dashboard.auth import caller_for_token
from dashboard.clients import UsersClient, upstreams_for
from dashboard.errors import InvalidToken, OrchestratorError, TooManyRequests, UpstreamRejected
from dashboard.sharedcache import cache_try
from dashboard.types import User

WINDOW = 60
ACCOUNT_FAILURES_PER_MINUTE = 5
ADDRESS_FAILURES_PER_MINUTE = 20
EMAIL_MEMORY_SECONDS = 30 * 24 * 3600


class WrongCredentials(OrchestratorError):
    code = "credenciales_invalidas"
    status = 401
    default_message = _("DNI, correo o contraseña incorrectos.")


@dataclass(frozen=True)
class SignedIn:
    token: str
    user: User


def _email_key(email: str) -> str:
    return "login-email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def account_key(credentials: dict[str, str]) -> str:
    """One key per account, whichever identifier was typed."""
    if credentials.get("dni"):
        return "dni:" + credentials["dni"]
    email = credentials.get("email", "").strip().lower()
    dni = cache_try(cache.get, _email_key(email))
    return f"dni:{dni}" if dni else f"email:{email}"


def sign_in(credentials: dict[str, str], address: str) -> SignedIn:
    """The users service's token and who it belongs to; `WrongCredentials`, `TooManyRequests`
    (with `retry_after`) or an upstream error otherwise."""
    account = account_key(credentials)
    waits = [ratelimit.exceeded("login-fail-account", account, limit=ACCOUNT_FAILURES_PER_MINUTE, window=WINDOW),
             ratelimit.exceeded("login-fail-address", address, limit=ADDRESS_FAILURES_PER_MINUTE, window=WINDOW)]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise TooManyRequests(
            _("Demasiados intentos de inicio de sesión. Espere %(segundos)d segundos e intente de nuevo.")
            % {"segundos": wait}, retry_after=wait)
    try:
        token = UsersClient().login(**credentials)
        user = caller_for_token(token, upstreams_for(token))
    except (UpstreamRejected, InvalidToken) as exc:
        # Wrong password, unknown account, refused token: one answer for all (no account probing).
        ratelimit.hit("login-fail-account", account, limit=ACCOUNT_FAILURES_PER_MINUTE, window=WINDOW)
        ratelimit.hit("login-fail-address", address, limit=ADDRESS_FAILURES_PER_MINUTE, window=WINDOW)
        raise WrongCredentials() from exc
    ratelimit.reset("login-fail-account", account, window=WINDOW)
    if user.email:
        cache_try(cache.set, _email_key(user.email), user.dni, EMAIL_MEMORY_SECONDS)
    return SignedIn(token=token, user=user)
