"""Concurrent upstream calls on one bounded, process-wide thread pool.

The pool size is `UPSTREAM_MAX_CONCURRENCY`, matching the connection pool of each upstream
session, so concurrency never opens more connections than the pool keeps alive. A call made from
inside a pool worker runs inline: nested fan-out on a bounded pool could otherwise deadlock.
"""
from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.UPSTREAM_MAX_CONCURRENCY, thread_name_prefix="upstream"
            )
        return _pool


def _run_in_worker(ctx: contextvars.Context, fn: Callable[[], R]) -> R:
    _in_worker.active = True
    try:
        return ctx.run(fn)
    finally:
        _in_worker.active = False


def gather(calls: Iterable[Callable[[], Any]], *, return_exceptions: bool = False) -> list[Any]:
    """Run zero-argument callables concurrently; results in the order given.

    Every call runs to completion before this returns. With `return_exceptions=False` the first
    failure (in the order given) is then raised; otherwise exceptions are returned as values.
    """
    calls = list(calls)
    if len(calls) <= 1 or getattr(_in_worker, "active", False):
        futures_results = []
        for call in calls:
            try:
                futures_results.append(call())
            except Exception as exc:  # noqa: BLE001 - returned or re-raised below
                if not return_exceptions:
                    raise
                futures_results.append(exc)
        return futures_results
    pool = _executor()
    futures = [pool.submit(_run_in_worker, contextvars.copy_context(), call) for call in calls]
    results: list[Any] = []
    for future in futures:
        exc = future.exception()
        results.append(exc if exc is not None else future.result())
    if not return_exceptions:
        for result in results:
            if isinstance(result, BaseException):
                raise result
    return results


def map_concurrently(fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False) -> list[Any]:
    return gather([lambda item=item: fn(item) for item in items], return_exceptions=return_exceptions)
