"""One circuit breaker per upstream per process (pybreaker), and what /ready and /estado show.

After `BREAKER_FAIL_MAX` consecutive failures (unreachable, timeout, 5xx or a broken contract;
never a 4xx, which is the upstream working as designed) the circuit opens: calls answer 503 at
once, with `Retry-After`, until `BREAKER_RESET_SECONDS` have passed; then one trial call decides.
"""
from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Any

import pybreaker
from django.conf import settings

from dashboard.errors import UpstreamFailed, UpstreamTimeout, UpstreamUnavailable

_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_last_errors: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def _is_not_outage(exc: BaseException) -> bool:
    return not isinstance(exc, (UpstreamUnavailable, UpstreamTimeout, UpstreamFailed))


class _RememberLastError(pybreaker.CircuitBreakerListener):
    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        _last_errors[cb.name] = {"mensaje": str(exc), "cuando": dt.datetime.now(dt.timezone.utc)}


def breaker_for(service: str) -> pybreaker.CircuitBreaker:
    with _lock:
        breaker = _breakers.get(service)
        if breaker is None:
            breaker = pybreaker.CircuitBreaker(
                fail_max=settings.BREAKER_FAIL_MAX,
                reset_timeout=settings.BREAKER_RESET_SECONDS,
                exclude=[_is_not_outage],
                listeners=[_RememberLastError()],
                name=service,
                # Keep our own error (503/504/502 naming the service) on the call that trips it.
                throw_new_error_on_trip=False,
            )
            _breakers[service] = breaker
        return breaker


def seconds_until_retry(breaker: pybreaker.CircuitBreaker) -> int:
    opened_at = breaker._state_storage.opened_at  # noqa: SLF001 - pybreaker exposes no public getter
    if opened_at is None:
        return 0
    elapsed = (dt.datetime.now(dt.timezone.utc) - opened_at).total_seconds()
    return max(math.ceil(breaker.reset_timeout - elapsed), 0)


def breaker_state(service: str) -> dict[str, Any]:
    """`cerrado` / `abierto` / `semiabierto`, consecutive failures and the last error."""
    breaker = breaker_for(service)
    state = breaker.current_state
    if state == pybreaker.STATE_OPEN and seconds_until_retry(breaker) == 0:
        state = pybreaker.STATE_HALF_OPEN
    names = {pybreaker.STATE_CLOSED: "cerrado", pybreaker.STATE_OPEN: "abierto", pybreaker.STATE_HALF_OPEN: "semiabierto"}
    return {
        "estado": names.get(state, state),
        "fallos_consecutivos": breaker.fail_counter,
        "reintento_en_s": seconds_until_retry(breaker) if state == pybreaker.STATE_OPEN else 0,
        "ultimo_error": _last_errors.get(service),
    }


def reset_breakers() -> None:
    """Forget every breaker (tests, and settings changes)."""
    with _lock:
        _breakers.clear()
        _last_errors.clear()
