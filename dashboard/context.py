"""Per-request context shared with worker threads: request id and upstream time.

Set by `RequestContextMiddleware`; `dashboard.concurrency` copies it into the threads that make
concurrent upstream calls, so every log line and upstream call carries the same request id.
"""
from __future__ import annotations

import contextvars
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Lock

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class RequestContext:
    request_id: str = "-"
    # time.monotonic() after which no upstream call may start or keep waiting; None: no deadline.
    deadline: float | None = None
    upstream_ms: float = 0.0  # summed over calls (concurrent calls add up)
    upstream_calls: int = 0
    _intervals: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def record_upstream(self, started: float, ended: float) -> None:
        """One upstream call, as `time.perf_counter()` instants."""
        with self._lock:
            self.upstream_ms += (ended - started) * 1000
            self.upstream_calls += 1
            self._intervals.append((started, ended))

    def upstream_wall_ms(self) -> float:
        """Wall time during which at least one upstream call was in flight (overlaps counted once)."""
        with self._lock:
            intervals = sorted(self._intervals)
        total, current_start, current_end = 0.0, None, None
        for start, end in intervals:
            if current_end is None or start > current_end:
                if current_end is not None:
                    total += current_end - current_start
                current_start, current_end = start, end
            else:
                current_end = max(current_end, end)
        if current_end is not None:
            total += current_end - current_start
        return total * 1000


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("request_context")


def current() -> RequestContext:
    try:
        return _current.get()
    except LookupError:
        return RequestContext()


def begin(request_id: str | None, *, deadline_seconds: float | None = None) -> tuple[RequestContext, contextvars.Token]:
    deadline = None if deadline_seconds is None else time.monotonic() + deadline_seconds
    ctx = RequestContext(request_id=sane_request_id(request_id), deadline=deadline)
    return ctx, _current.set(ctx)


def end(token: contextvars.Token) -> None:
    _current.reset(token)


def sane_request_id(candidate: str | None) -> str:
    """The caller's id when it is short and plain, else a new one (it goes into logs and headers)."""
    if candidate and _SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


@contextmanager
def deadline_extended(seconds: float) -> Iterator[None]:
    """Give compensating writes (stock given back) their own time, past an expired deadline."""
    ctx = current()
    saved = ctx.deadline
    if saved is not None:
        ctx.deadline = max(saved, time.monotonic() + seconds)
    try:
        yield
    finally:
        ctx.deadline = saved
