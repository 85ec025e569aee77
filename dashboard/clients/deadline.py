"""Whole-answer deadlines for upstream calls.

A socket timeout bounds one read, so an upstream that trickles its status line, headers or body a
byte at a time could hold a call for ever. Here every read of a response, from the first byte of the
status line to the last of the body, may only wait for what is left of the call's deadline (and never
longer than the read timeout). `DeadlineAdapter` puts this under `requests`; `deadline()` sets the
limit for the calls the current thread makes; `clients.transport` reads it the same way.
"""
from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


@contextmanager
def deadline(at: float, read_timeout: float) -> Iterator[None]:
    """Calls made in this block must have their whole answer by `at` (time.perf_counter())."""
    _current.limit = (at, read_timeout)
    try:
        yield
    finally:
        _current.limit = None


def current_limit() -> tuple[float, float] | None:
    """(deadline, read timeout) set by `deadline()` for this thread's calls, or None."""
    return getattr(_current, "limit", None)


def recv_wait(at: float, read_timeout: float | None) -> float:
    """How long the next recv may wait: what is left until `at` (perf_counter), at most
    `read_timeout`; TimeoutError when nothing is left."""
    left = at - time.perf_counter()
    if left <= 0:
        raise TimeoutError("upstream answer not complete by its deadline")
    return left if read_timeout is None else min(left, read_timeout)


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each recv allowed only what is left of the deadline."""

    def __init__(self, sock: socket.socket, at: float, read_timeout: float) -> None:
        super().__init__()
        self._sock, self._at, self._read_timeout = sock, at, read_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(recv_wait(self._at, self._read_timeout))
        return self._sock.recv_into(buffer)


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        limit = current_limit()
        if limit is not None:
            self.fp.close()  # the plain reader, nothing read through it yet
            self.fp = io.BufferedReader(_DeadlineReader(sock, *limit))


class _DeadlineHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _Pool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections read answers under `deadline()`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
