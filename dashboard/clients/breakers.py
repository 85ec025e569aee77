"""One circuit breaker per upstream per process, and what /ready and /estado show of it.

After `BREAKER_FAIL_MAX` consecutive outages (unreachable, timeout, 5xx or a broken contract;
never a 4xx, which is the upstream working as designed) the circuit opens: calls answer 503 at
once, with `Retry-After`, until `BREAKER_RESET_SECONDS` have passed; then one trial call decides
(success closes it, failure opens it again) while the others keep failing fast.

Hand-written on purpose: pybreaker holds its lock for the whole call, which would serialise every
concurrent call to an upstream. Here the lock only guards the counters.
"""
from __future__ import annotations

import datetime as dt
import math
import threading
import time
from typing import Any

from django.conf import settings

from dashboard import metrics
from dashboard.errors import SERVICE_PRESCRIPTIONS, SERVICE_PRODUCTS, SERVICE_USERS, UpstreamUnavailable

CLOSED, OPEN, HALF_OPEN = "cerrado", "abierto", "semiabierto"
_METRIC_STATE = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half_open"}


class CircuitBreaker:
    def __init__(self, service: str, *, fail_max: int, reset_seconds: float) -> None:
        self.service = service
        self.fail_max = fail_max
        self.reset_seconds = reset_seconds
        self.failures = 0
        self.opened_at: float | None = None  # time.monotonic() when it opened
        self.trial_running = False
        self.last_error: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._published: str | None = None
        self.publish(CLOSED)

    def publish(self, state: str) -> None:
        """Show `state` in the circuit breaker gauge (only when it changed)."""
        if state != self._published:
            self._published = state
            metrics.set_breaker_state(self.service, _METRIC_STATE[state])

    def _wait_left(self) -> float:
        return 0.0 if self.opened_at is None else self.reset_seconds - (time.monotonic() - self.opened_at)

    def before_call(self) -> None:
        """Let the call through, or raise 503 while the circuit is open (one trial once it may close)."""
        with self._lock:
            if self.opened_at is None:
                return
            wait = self._wait_left()
            if wait <= 0 and not self.trial_running:
                self.trial_running = True
                self.publish(HALF_OPEN)
                return
        raise UpstreamUnavailable(self.service, details={"circuito": OPEN}, retry_after=max(math.ceil(wait), 1))

    def record_success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self.trial_running = False
            self.publish(CLOSED)

    def record_failure(self, error: Exception) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = {"mensaje": str(error), "cuando": dt.datetime.now(dt.UTC)}
            if self.trial_running or self.failures >= self.fail_max:
                self.opened_at = time.monotonic()
                self.publish(OPEN)
            self.trial_running = False

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            if self.opened_at is None:
                state, retry = CLOSED, 0
            else:
                wait = self._wait_left()
                state, retry = (OPEN, math.ceil(wait)) if wait > 0 else (HALF_OPEN, 0)
            return {"estado": state, "fallos_consecutivos": self.failures, "reintento_en_s": retry,
                    "ultimo_error": self.last_error}


_breakers: dict[str, CircuitBreaker] = {}
_lock = threading.Lock()


def breaker_for(service: str) -> CircuitBreaker:
    with _lock:
        breaker = _breakers.get(service)
        if breaker is None:
            breaker = CircuitBreaker(service, fail_max=settings.BREAKER_FAIL_MAX,
                                     reset_seconds=settings.BREAKER_RESET_SECONDS)
            _breakers[service] = breaker
        return breaker


def breaker_state(service: str) -> dict[str, Any]:
    """`cerrado` / `abierto` / `semiabierto`, consecutive failures, seconds to retry, last error."""
    return breaker_for(service).snapshot()


def publish_all() -> None:
    """Refresh the gauge of every upstream's breaker (open turns half-open with time alone)."""
    for service in (SERVICE_USERS, SERVICE_PRODUCTS, SERVICE_PRESCRIPTIONS):
        breaker_for(service)
    with _lock:
        breakers = list(_breakers.values())
    for breaker in breakers:
        state = breaker.snapshot()["estado"]
        with breaker._lock:
            breaker.publish(state)


def reset_breakers() -> None:
    """Forget every breaker (tests, and settings changes)."""
    with _lock:
        forgotten = list(_breakers)
        _breakers.clear()
    for service in forgotten:
        metrics.set_breaker_state(service, _METRIC_STATE[CLOSED])
