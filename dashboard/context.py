"""Per-request context shared with worker threads: request id, W3C trace context and upstream time.

Set by `RequestContextMiddleware`; `dashboard.concurrency` copies it into the threads that make
concurrent upstream calls, so every log line and upstream call carries the same request id and
trace id (each upstream call as a child span: `traceparent` with a new span id).
"""
from __future__ import annotations

import contextvars
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Lock

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# W3C Trace Context: version-trace_id-parent_id-flags, lowercase hex; later versions may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[0-9a-zA-Z_.-]*)?")
_SANE_TRACESTATE = re.compile(r"^[\x20-\x7e]{1,512}$")


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent_id, flags) of a valid `traceparent` header, else None (start a new trace)."""
    if not value or len(value) > 512:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if not match:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id, flags


@dataclass
class RequestContext:
    request_id: str = "-"
    trace_id: str = field(default_factory=new_trace_id)
    span_id: str = field(default_factory=new_span_id)  # this request's span: the parent of upstream calls
    trace_flags: str = "01"
    tracestate: str | None = None
    # time.monotonic() after which no upstream call may start or keep waiting; None: no deadline.
    deadline: float | None = None
    upstream_ms: float = 0.0  # summed over calls (concurrent calls add up)
    upstream_calls: int = 0
    _intervals: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def child_traceparent(self) -> str:
        """`traceparent` for one upstream call: same trace, a new span id, this request as parent."""
        return f"00-{self.trace_id}-{new_span_id()}-{self.trace_flags}"

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


def current_or_none() -> RequestContext | None:
    """The request's context, or None outside a request (no trace id to log there)."""
    return _current.get(None)


def begin(request_id: str | None, *, deadline_seconds: float | None = None, traceparent: str | None = None,
          tracestate: str | None = None, span: tuple[str, str, str] | None = None,
          ) -> tuple[RequestContext, contextvars.Token]:
    """Start a request's context: the caller's trace when its `traceparent` is valid, else a new one.

    `span` (trace_id, span_id, flags) is the request's span when OpenTelemetry already made one.
    """
    deadline = None if deadline_seconds is None else time.monotonic() + deadline_seconds
    ctx = RequestContext(request_id=sane_request_id(request_id), deadline=deadline)
    parent = parse_traceparent(traceparent)
    if span is not None:
        ctx.trace_id, ctx.span_id, ctx.trace_flags = span
    elif parent is not None:
        ctx.trace_id, _parent_id, ctx.trace_flags = parent
    # tracestate belongs to the caller's trace: kept only when that trace is continued.
    if parent is not None and tracestate and _SANE_TRACESTATE.fullmatch(tracestate):
        ctx.tracestate = tracestate
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
