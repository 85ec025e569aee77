"""HTTP plumbing shared by the three stand-in services: requests, responses, routing, listeners."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

CORS_HEADERS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Max-Age": "3600",
}
CONTROL_PREFIX = "/__sandbox__/"


class InvalidJson(ValueError):
    """The request body is not JSON; each service answers it in its own dialect."""


class Reply(Exception):
    """Raised by a handler to answer right away (an auth failure, a bad body...)."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    target: str = ""  # the raw request target, query string included
    service: str = ""  # which service received it (control routes act on it by default)

    def json(self) -> Any:
        if not self.body.strip():
            raise InvalidJson("empty body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidJson(str(exc)) from exc

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    trickle_seconds: float = 0.0  # pause before each byte of the body (a hostile, trickling upstream)
    trickle_headers: bool = False  # the status line and headers trickle too
    trickle_release: threading.Event | None = None  # set: stop pausing (faults cleared)

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json")


def json_response(status: int, data: Any, content_type: str = "application/json") -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, content_type)


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, text.encode(), content_type)


def reason(status: int) -> str:
    """The standard reason phrase ("Service Unavailable") for a status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    regex: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(pattern)


class Service:
    """One upstream service: its routes and its error dialect.

    Subclasses set `name` and implement `routes()`, `not_found()`, `method_not_allowed()`,
    `invalid_json()` and `failure()` (the generic error body used for injected failures).
    """

    name = ""

    def __init__(self) -> None:
        self._routes = self.routes()

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:
        raise NotImplementedError

    def method_not_allowed(self, request: Request) -> Response:
        raise NotImplementedError

    def invalid_json(self, request: Request, error: InvalidJson) -> Response:
        raise NotImplementedError

    def failure(self, status: int) -> Response:
        raise NotImplementedError

    def dispatch(self, request: Request) -> Response:
        path_known = False
        for route in self._routes:
            match = route.regex.fullmatch(request.path)
            if not match:
                continue
            path_known = True
            if route.method != request.method:
                continue
            params = {key: unquote(value) for key, value in match.groupdict().items()}
            try:
                return route.handler(request, **params)
            except Reply as reply:
                return reply.response
            except InvalidJson as exc:
                return self.invalid_json(request, exc)
        return self.method_not_allowed(request) if path_known else self.not_found(request)


IDLE_KEEPALIVE_SECONDS = 5.0


class _Handler(BaseHTTPRequestHandler):
    """Turns raw HTTP into `Request`s for the listener's `respond` callback."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the real services behave
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms) on every reused connection. Real servers (Tomcat, uvicorn, Node) set TCP_NODELAY.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are closed after 5 s, as uvicorn and Node do by default: a client
    # that reuses one must cope with the close (a write must not meet it; see clients/transport.py).
    timeout = IDLE_KEEPALIVE_SECONDS
    server: ServiceServer

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self._read_body(),
            target=self.path,
        )
        response = self.server.respond(request)
        if response is None:  # the service went down while this request waited
            self.close_connection = True
            return
        self.send_response(response.status)
        headers = {**CORS_HEADERS, **response.headers, "Content-Type": response.content_type}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if response.trickle_seconds > 0:
            self._trickle(response)
            return
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _trickle(self, response: Response) -> None:
        """The answer one byte at a time (headers too with `trickle_headers`), until faults are cleared."""
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        data = head + (b"" if self.command == "HEAD" else response.body)
        start = 0
        if not response.trickle_headers:
            self.wfile.write(head)
            start = len(head)
        release = response.trickle_release or threading.Event()
        for index in range(start, len(data)):
            release.wait(response.trickle_seconds)
            self.wfile.write(data[index:index + 1])

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # Read every chunk even if unused: leftovers would corrupt the next keep-alive request.
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailer headers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            super().log_message(format, *args)


class ServiceServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True  # so a service brought back up can re-bind its port at once

    def __init__(self, address: tuple[str, int], respond: Callable[[Request], Response | None], access_log: bool):
        self.respond = respond
        self.access_log = access_log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.accepted = 0  # TCP connections accepted, so tests can see keep-alive reuse
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut open keep-alive connections, as a crashed process would."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up (timeouts, a service taken down) are expected in tests: stay quiet.
        pass


class Listener:
    """Owns one service's listening socket; can be taken down and brought back on the same port."""

    def __init__(self, host: str, port: int, respond: Callable[[Request], Response | None], access_log: bool = False):
        self.host = host
        self.port = port
        self._respond = respond
        self._access_log = access_log
        self._server: ServiceServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._accepted_before = 0  # by servers of earlier up/down cycles
        self.generation = 0  # +1 each time the service goes down: a request held across it died with it

    @property
    def connections_accepted(self) -> int:
        """TCP connections this service has accepted since it was created."""
        server = self._server
        return self._accepted_before + (server.accepted if server else 0)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = ServiceServer((self.host, self.port), self._respond, self._access_log)
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{self.port}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._accepted_before += self._server.accepted
                self.generation += 1
            server, self._server = self._server, None
            if server is None:
                return
            server.shutdown()
            server.server_close()
            server.drop_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
