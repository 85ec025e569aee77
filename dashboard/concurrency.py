"""Concurrent upstream calls: a per-request fan-out and a fair per-upstream in-flight limit.

Two bounds, each where it belongs:
- `UPSTREAM_REQUEST_FANOUT` (64): how many calls ONE request runs at once (`gather`). A listing
  of 38 distinct products fetches all 38 at once: one round trip, not ⌈38/16⌉ waves.
- `UPSTREAM_MAX_CONCURRENCY` (64): how many calls are in flight to ONE upstream from this process
  (`upstream_slot`, taken around each HTTP exchange by the client base). It protects each service and
  matches the keep-alive pool of its session. When requests compete for it, free slots go round-robin
  between the waiting requests (not first come, first served), so one large listing cannot make
  every small request queue behind all of its calls.

The threads come from one process-wide pool sized for every upstream at its limit. A call made from
inside a pool worker runs inline: nested fan-out on a bounded pool could otherwise deadlock.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings

from dashboard import context

T = TypeVar("T")
R = TypeVar("R")

UPSTREAMS = 3  # users, products, prescriptions: the pool can keep each at its limit

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            size = max(settings.UPSTREAM_MAX_CONCURRENCY * UPSTREAMS, settings.UPSTREAM_REQUEST_FANOUT)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="upstream")
        return _pool


def _run_in_worker(ctx: contextvars.Context, fn: Callable[[], R]) -> R:
    _in_worker.active = True
    try:
        return ctx.run(fn)
    finally:
        _in_worker.active = False


def submit(fn: Callable[[], R]) -> Future[R]:
    """Start one call in the pool now (with the request's context); its result is awaited later."""
    return _executor().submit(_run_in_worker, contextvars.copy_context(), fn)


def gather(calls: Iterable[Callable[[], Any]], *, return_exceptions: bool = False) -> list[Any]:
    """Run zero-argument callables concurrently, at most `UPSTREAM_REQUEST_FANOUT` at once; results in order.

    Every call runs to completion before this returns. With `return_exceptions=False` the first
    failure (in the order given) is then raised; otherwise exceptions are returned as values.
    """
    calls = list(calls)
    if len(calls) <= 1 or getattr(_in_worker, "active", False):
        results_inline = []
        for call in calls:
            try:
                results_inline.append(call())
            except Exception as exc:  # noqa: BLE001 - returned or re-raised below
                if not return_exceptions:
                    raise
                results_inline.append(exc)
        return results_inline
    results: list[Any] = [None] * len(calls)
    pending = iter(enumerate(calls))
    pending_lock = threading.Lock()

    def runner() -> None:
        # Each runner takes the next call until none is left: at most `fanout` threads per request.
        while True:
            with pending_lock:
                item = next(pending, None)
            if item is None:
                return
            index, call = item
            try:
                results[index] = call()
            except Exception as exc:  # noqa: BLE001 - collected, raised below
                results[index] = exc

    fanout = max(1, min(len(calls), settings.UPSTREAM_REQUEST_FANOUT))
    for future in [submit(runner) for _ in range(fanout)]:
        future.result()
    if not return_exceptions:
        for result in results:
            if isinstance(result, BaseException):
                raise result
    return results


def map_concurrently(fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False) -> list[Any]:
    return gather([lambda item=item: fn(item) for item in items], return_exceptions=return_exceptions)


class FairLimiter:
    """At most `limit` holders; waiters are served round-robin by key (one request = one key)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._waiting: OrderedDict[str, deque[threading.Event]] = OrderedDict()

    def acquire(self, key: str, timeout: float | None = None) -> bool:
        with self._lock:
            if self.in_flight < self.limit and not self._waiting:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                return True
            granted = threading.Event()
            self._waiting.setdefault(key, deque()).append(granted)
        if granted.wait(timeout):
            return True
        with self._lock:
            if granted.is_set():  # handed over while timing out: it is ours
                return True
            queue = self._waiting.get(key)
            if queue is not None:
                queue.remove(granted)
                if not queue:
                    del self._waiting[key]
        return False

    def release(self) -> None:
        with self._lock:
            if not self._waiting:
                self.in_flight -= 1
                return
            # The slot passes to the request waiting longest for its turn, which then goes to the back.
            key, queue = self._waiting.popitem(last=False)
            granted = queue.popleft()
            if queue:
                self._waiting[key] = queue
            granted.set()


_limiters: dict[str, FairLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(service: str) -> FairLimiter:
    with _limiters_lock:
        limiter = _limiters.get(service)
        if limiter is None or limiter.limit != max(1, settings.UPSTREAM_MAX_CONCURRENCY):
            limiter = _limiters[service] = FairLimiter(settings.UPSTREAM_MAX_CONCURRENCY)
        return limiter


class SlotTimeout(TimeoutError):
    """No slot of the upstream freed up before the request's deadline: nothing was sent."""


@contextlib.contextmanager
def upstream_slot(service: str) -> Iterator[None]:
    """Hold one of the upstream's in-flight slots; waiting past the request's deadline -> `SlotTimeout`."""
    ctx = context.current()
    limiter = limiter_for(service)
    remaining = ctx.remaining()
    if not limiter.acquire(ctx.request_id, None if remaining is None else max(remaining, 0)):
        raise SlotTimeout(f"no free slot for {service} before the deadline")
    try:
        yield
    finally:
        limiter.release()
