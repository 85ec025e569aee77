"""The wire under `requests` for upstream calls: pooled keep-alive sockets, answers parsed by httptools.

`requests` stays the interface: `UpstreamAdapter` is an `HTTPAdapter` whose inherited `send` maps
failures to requests' exceptions (and is what `responses` replaces in unit tests). Below it, urllib3's
pool and http.client are replaced: http.client parses every answer's headers with the e-mail
package, and with urllib3's layers that was two thirds of an upstream call's CPU (issue 14,
docs/performance.md). httptools is llhttp, Node.js's HTTP parser: strict framing (Content-Length,
chunked, until-close), at C speed.

What this keeps, exactly as urllib3 raised it, because the client base tells "never sent" from
"may have landed" by it: a connection that could not be made is a `MaxRetryError` over
`NewConnectionError` (or `ConnectTimeoutError`); a timeout after sending is `ReadTimeoutError`; a
connection lost or an answer that is not HTTP is `ProtocolError`. Every recv may wait only for what
is left of the call's deadline (`clients.deadline`), so a trickling upstream cannot stretch a call.

What it leaves out: proxies (`UPSTREAM_TRUST_ENV=True` uses requests' own stack), compressed answers
(we ask for identity), HEAD, request bodies without a length, following redirects.
A GET sent on a kept-alive connection that the upstream had closed meanwhile is sent once more on a
new one (nothing was answered); a write never is. So that a write does not meet that race (the
upstream closing an idle connection just as the write goes out, which would leave its outcome
unknown), a write only reuses a connection idle for less than `WRITE_MAX_IDLE_SECONDS`: uvicorn and
Node close idle connections after 5 s.
"""
from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections import deque
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urlsplit

import httptools
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Timeout
from urllib3.util.wait import wait_for_read

from dashboard.clients.deadline import current_limit, recv_wait

MAX_HEAD_BYTES = 64 * 1024  # status line and headers; more is not an answer from our upstreams
RECV_BYTES = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}
WRITE_MAX_IDLE_SECONDS = 2.0
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces (http.client refuses them too)


def ca_bundle() -> str:
    """What https upstreams are verified against: `UPSTREAM_CA_BUNDLE`, else certifi's public CAs."""
    return settings.UPSTREAM_CA_BUNDLE or DEFAULT_CA_BUNDLE_PATH


class _Stale(Exception):
    """A kept-alive connection the upstream had closed: it answered nothing."""


class UpstreamResponse:
    """One answer: the status line and headers read by `urlopen`, the body streamed by `read1`.

    It is also the parser's protocol (httptools calls `on_header`, `on_body`...). Once the body is
    read whole, the connection goes back to its pool (if the upstream keeps it alive); closed early,
    the connection is closed: a half-read answer must never be read as the next one's start.
    """

    def __init__(self, pool: UpstreamPool, sock: socket.socket, url: str, read_timeout: float | None) -> None:
        self._pool, self._sock, self._url, self._read_timeout = pool, sock, url, read_timeout
        self._limit = current_limit()
        self._parser = httptools.HttpResponseParser(self)
        self._header_list: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._body: deque[bytes] = deque()
        self._head_done = self._complete = self._interim = self._until_close = self._keep_alive = False
        self.status = 0
        self.reason = ""
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()

    # -- httptools' callbacks ----------------------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self.reason = reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise ValueError(f"headers over {MAX_HEAD_BYTES} bytes")  # the parser raises it as its own error
        self._header_list.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (103 Early Hints...): the real one follows
            self._interim = True
            self._header_list = []
            return
        self.status = status
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in self._header_list:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        self._until_close = not framed and status not in (204, 304)
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._keep_alive = self._parser.should_keep_alive()  # llhttp forgets it once the callback returns
        self._complete = True

    # -- reading -----------------------------------------------------------------------------------
    def _recv(self) -> bytes:
        sock = self._sock
        if sock is None:
            raise ProtocolError("Response closed")
        timeout = self._read_timeout
        try:
            if self._limit is not None:
                at, limit_read = self._limit
                timeout = recv_wait(at, limit_read if timeout is None else min(timeout, limit_read))
            sock.settimeout(timeout)
            return sock.recv(RECV_BYTES)
        except TimeoutError as exc:  # the socket's timeout, or nothing left of the deadline
            raise ReadTimeoutError(self._pool, self._url, f"Read timed out. (read timeout={timeout})") from exc
        except OSError as exc:
            raise ProtocolError("Connection aborted.", exc) from exc

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            raise ProtocolError("Not a valid HTTP answer", exc) from exc

    def read_head(self, reused: bool) -> None:
        received = 0
        while not self._head_done:
            data = self._recv()
            if not data:
                if reused and received == 0:
                    raise _Stale
                raise ProtocolError("Connection aborted.",
                                    RemoteDisconnected("Remote end closed connection without response"))
            received += len(data)
            self._feed(data)
            if not self._head_done and received > 2 * MAX_HEAD_BYTES:  # e.g. one endless header line
                raise ProtocolError(f"Status line and headers over {MAX_HEAD_BYTES} bytes")
        if self._complete:
            self._release()

    def read1(self, amt: int = -1) -> bytes:
        """Whatever body bytes come next (at most `amt`), b"" at its end."""
        while not self._body and not self._complete:
            data = self._recv()
            if not data:
                if not self._until_close:
                    raise ProtocolError("Connection broken: the answer ended before its body did")
                self._complete = True
                break
            self._feed(data)
        if not self._body:
            self._release()
            return b""
        chunk = self._body.popleft()
        if 0 < amt < len(chunk):
            self._body.appendleft(chunk[amt:])
            chunk = chunk[:amt]
        if self._complete and not self._body:
            self._release()
        return chunk

    def stream(self, amt: int | None = RECV_BYTES, decode_content: bool | None = None) -> Any:
        """What `requests.Response.content` reads the body with."""
        while chunk := self.read1(amt or -1):
            yield chunk

    # -- the connection ----------------------------------------------------------------------------
    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            if not self._keep_alive:
                sock.close()
            else:
                self._pool.put(sock)

    def close(self) -> None:
        if self._complete and not self._body:
            self._release()
            return
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    release_conn = close

    @property
    def closed(self) -> bool:
        return self._sock is None


class UpstreamPool:
    """Kept-alive connections to one upstream (scheme, host, port), at most `maxsize` idle."""

    def __init__(self, scheme: str, host: str, port: int, host_header: str, maxsize: int) -> None:
        self.scheme, self.host, self.port, self.maxsize = scheme, host, port, maxsize
        self.host_header = host_header.encode("latin-1")
        self._idle: deque[tuple[socket.socket, float]] = deque()  # (socket, when it was put back)
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None  # made at the first https connection (see _connect)

    def _take(self, max_idle: float | None) -> socket.socket | None:
        """The connection put back last (idle the shortest), unless idle longer than `max_idle`."""
        while True:
            with self._lock:
                if not self._idle or (max_idle is not None
                                      and time.monotonic() - self._idle[-1][1] > max_idle):
                    return None  # older ones stay for reads
                sock, _since = self._idle.pop()
            if wait_for_read(sock, timeout=0.0):  # closed by the upstream (or unasked bytes): not reusable
                sock.close()
                continue
            return sock

    def put(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append((sock, time.monotonic()))
                return
        sock.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, deque()
        for sock, _since in idle:
            sock.close()

    def _connect(self, url: str, timeout: float | None) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except TimeoutError as exc:
            raise MaxRetryError(self, url, ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={timeout})")) from exc
        except OSError as exc:
            raise MaxRetryError(self, url, NewConnectionError(
                self, f"Failed to establish a new connection: {exc}")) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.scheme == "https":
            try:
                if self._tls is None:  # an unreadable CA bundle is then a failed connection, not a crash
                    self._tls = ssl.create_default_context(cafile=ca_bundle())
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except TimeoutError as exc:
                sock.close()
                raise MaxRetryError(self, url, ConnectTimeoutError(
                    self, f"TLS handshake with {self.host} timed out")) from exc
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise MaxRetryError(self, url, SSLError(exc)) from exc
        return sock

    def _message(self, method: str, url: str, headers: Any, body: bytes | str | None) -> bytes:
        if not url.startswith("/") or _NOT_IN_URL.search(url):
            raise ValueError(f"URL can't contain control characters or spaces: {url!r}")
        lines = [f"{method} {url} HTTP/1.1".encode("latin-1")]
        if "Host" not in headers:
            lines.append(b"Host: " + self.host_header)
        for name, value in headers.items():
            value = str(value)
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"Invalid header {name!r}")
            lines.append(f"{name}: {value}".encode("latin-1"))
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if body is None:
            return head
        return head + (body.encode() if isinstance(body, str) else body)

    def urlopen(self, method: str, url: str, body: Any = None, headers: Any = None, retries: Any = None,
                redirect: bool = True, assert_same_host: bool = True, timeout: Any = None,
                chunked: bool = False, **_kwargs: Any) -> UpstreamResponse:
        """What `HTTPAdapter.send` calls: send the request, read the status line and headers."""
        if chunked or not (body is None or isinstance(body, (bytes, str))):
            raise ValueError("upstream request bodies are sent with a Content-Length")
        if method == "HEAD":
            raise ValueError("HEAD is not sent upstream")
        if not isinstance(timeout, Timeout):
            timeout = Timeout(connect=timeout, read=timeout)
        connect_timeout, read_timeout = timeout.connect_timeout, timeout.read_timeout
        connect_timeout = None if connect_timeout is Timeout.DEFAULT_TIMEOUT else connect_timeout
        read_timeout = None if read_timeout is Timeout.DEFAULT_TIMEOUT else read_timeout
        message = self._message(method, url, headers or {}, body)
        sock = self._take(None if method == "GET" else WRITE_MAX_IDLE_SECONDS)
        while True:
            reused = sock is not None
            if sock is None:
                sock = self._connect(url, connect_timeout)
            response = UpstreamResponse(self, sock, url, read_timeout)
            try:
                try:
                    sock.settimeout(read_timeout)
                    sock.sendall(message)
                except TimeoutError as exc:
                    raise ReadTimeoutError(self, url, "Write timed out") from exc
                except OSError as exc:
                    if reused and method == "GET":
                        raise _Stale from exc
                    raise ProtocolError("Connection aborted.", exc) from exc
                response.read_head(reused and method == "GET")
                return response
            except _Stale:
                response.close()
                sock = None  # a GET the upstream never answered: once more, on a new connection
            except BaseException:
                response.close()
                raise


class UpstreamAdapter(HTTPAdapter):
    """requests' adapter over `UpstreamPool`s: one per (scheme, host, port), `pool_maxsize` idle each."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **_kwargs: Any) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self._pools: dict[tuple[str, str, int], UpstreamPool] = {}
        self._pools_lock = threading.Lock()

    def get_connection_with_tls_context(self, request: PreparedRequest, verify: Any, proxies: Any = None,
                                        cert: Any = None) -> UpstreamPool:
        if verify is False or cert or proxies:  # True or the session's ca_bundle(): the pool verifies
            raise ValueError("upstream calls verify TLS against UPSTREAM_CA_BUNDLE, without client certificates "
                             "or proxies (UPSTREAM_TRUST_ENV=True for proxies)")
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise LocationValueError(f"No host or an unsupported scheme in {request.url!r}")
        port = parts.port or _DEFAULT_PORTS[scheme]
        key = (scheme, parts.hostname, port)
        pool = self._pools.get(key)
        if pool is None:
            with self._pools_lock:
                pool = self._pools.get(key)
                if pool is None:
                    host_header = parts.netloc.rpartition("@")[2]
                    pool = self._pools[key] = UpstreamPool(scheme, parts.hostname, port, host_header,
                                                           self._pool_maxsize)
        return pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Nothing to set per call: an https pool always verifies, against `ca_bundle()`."""

    def request_url(self, request: PreparedRequest, proxies: Any) -> str:
        return request.path_url

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        """requests' `build_response` but for the cookie jar: no upstream sets cookies we keep."""
        response = Response()
        response.status_code = resp.status
        headers = resp.headers
        response.headers = headers if isinstance(headers, CaseInsensitiveDict) else CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
