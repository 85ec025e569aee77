"""The upstream wire (`dashboard.clients.transport`) against a raw HTTP/1.1 server on a free port.

Each answer is written byte for byte here, so framing (Content-Length, chunked, until close), kept-alive
connections, interim answers and connections the upstream drops are exercised as real sockets see them.
"""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from dashboard.clients import ProductsClient, transport
from dashboard.clients.base import reset_sessions, session_for
from dashboard.errors import UpstreamInvalid, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import system_tool
from tests.payloads import product_payload

pytestmark = pytest.mark.integration

BODY = json.dumps(product_payload(1)).encode()


def ok(body: bytes = BODY, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


class Trickle(bytes):
    """An answer sent a byte at a time, `TRICKLE_GAP` seconds apart."""


TRICKLE_GAP = 0.05


class RawServer:
    """Answers each request with `answer(connection_no, request_no_on_it, head)`: (bytes, close_after).

    `bytes` None closes the connection without answering. Records every request head it read.
    """

    def __init__(self, answer: Callable[[int, int, bytes], tuple[bytes | None, bool]],
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer, self.tls = answer, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
        self.connections = 0
        self.heads: list[bytes] = []
        self.hung_up = threading.Semaphore(0)  # released once per connection the server closed
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    return
            self._exchange(conn, number)
        finally:
            self.hung_up.release()

    def _exchange(self, conn: socket.socket, number: int) -> None:
        buffer, served = b"", 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                self.heads.append(head)
                served += 1
                reply, close = self.answer(number, served, head)
                if reply is None:
                    return
                if isinstance(reply, Trickle):
                    try:
                        for byte in reply:
                            conn.sendall(bytes([byte]))
                            time.sleep(TRICKLE_GAP)
                    except OSError:
                        return
                    continue
                conn.sendall(reply)
                if close:
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw(settings) -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Callable[[int, int, bytes], tuple[bytes | None, bool]],
              tls: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(answer, tls)
        servers.append(server)
        settings.URL_PRODUCTOS_OFERTAS = server.url
        settings.UPSTREAM_GET_RETRIES = 0  # what the wire does, not the client base's retry
        return server

    reset_sessions()
    yield start
    reset_sessions()
    for server in servers:
        server.close()


def test_a_content_length_answer_is_read_and_its_connection_kept_for_the_next_calls(raw):
    server = raw(lambda *_: (ok(), False))
    for _ in range(3):
        assert ProductsClient().product_get(1).id == 1
    assert server.connections == 1
    assert len(server.heads) == 3


def test_a_chunked_answer_is_put_together(raw):
    parts = (BODY[:10], BODY[10:50], BODY[50:])
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    server = raw(lambda *_: (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + chunks, False))
    assert ProductsClient().product_get(1).nombre == product_payload(1)["nombre"]
    assert ProductsClient().product_get(1).id == 1
    assert server.connections == 1


def test_an_answer_without_length_ends_with_its_connection_which_is_not_reused(raw):
    server = raw(lambda *_: (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY, True))
    assert ProductsClient().product_get(1).id == 1
    assert ProductsClient().product_get(1).id == 1
    assert server.connections == 2


def test_connection_close_is_honoured(raw):
    server = raw(lambda *_: (ok(extra=b"Connection: close\r\n"), True))
    ProductsClient().product_get(1)
    ProductsClient().product_get(1)
    assert server.connections == 2


def test_an_interim_answer_is_skipped(raw):
    raw(lambda *_: (b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" + ok(), False))
    assert ProductsClient().product_get(1).id == 1


def test_a_body_cut_short_is_an_incomplete_answer_and_its_connection_is_dropped(raw):
    server = raw(lambda number, *_: ((ok()[:-20], True) if number == 1 else (ok(), False)))
    with pytest.raises(UpstreamInvalid) as exc:
        ProductsClient().product_get(1)
    assert exc.value.details["motivo"] == "respuesta_incompleta"
    assert ProductsClient().product_get(1).id == 1
    assert server.connections == 2


def test_a_get_on_a_kept_alive_connection_the_upstream_dropped_is_sent_again_on_a_new_one(raw):
    # The first connection answers once, then reads the next request and closes without a word.
    server = raw(lambda number, served, _head: (None, True) if (number, served) == (1, 2) else (ok(), False))
    assert ProductsClient().product_get(1).id == 1
    assert ProductsClient().product_get(1).id == 1
    assert server.connections == 2
    assert len(server.heads) == 3  # the dropped GET, then the same GET on the new connection


def test_a_write_on_a_dropped_connection_is_never_sent_again_and_may_have_landed(raw):
    server = raw(lambda number, served, _head: (None, True) if (number, served) == (1, 2) else (ok(), False))
    ProductsClient().product_get(1)
    with pytest.raises(UpstreamUnavailable) as exc:
        ProductsClient().product_set_stock(1, 5)
    assert exc.value.may_have_landed is True
    assert [h.split(b" ")[0] for h in server.heads] == [b"GET", b"PUT"]


def test_a_connection_closed_while_idle_in_the_pool_is_not_used(raw):
    server = raw(lambda *_: (ok(), True))  # answers with keep-alive framing, then hangs up
    ProductsClient().product_set_stock(1, 5)
    assert server.hung_up.acquire(timeout=5)
    ProductsClient().product_set_stock(1, 4)  # a write: it must not meet the dead connection
    assert server.connections == 2
    assert [h.split(b" ")[0] for h in server.heads] == [b"PUT", b"PUT"]


def test_status_line_and_headers_too_large_are_refused(raw):
    raw(lambda *_: (b"HTTP/1.1 200 OK\r\n" + b"X-Relleno: " + b"x" * 70_000 + b"\r\n\r\n", True))
    with pytest.raises(UpstreamUnavailable):
        ProductsClient().product_get(1)


def test_what_is_not_http_is_refused(raw):
    raw(lambda *_: (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", True))
    with pytest.raises(UpstreamUnavailable) as exc:
        ProductsClient().product_get(1)
    assert exc.value.may_have_landed is True


def test_the_request_carries_host_and_our_headers(raw):
    server = raw(lambda *_: (ok(), False))
    ProductsClient().product_set_stock(1, 7)
    lines = server.heads[0].split(b"\r\n")
    assert lines[0] == b"PUT /api/productos/1 HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    assert headers[b"host"] == server.url.removeprefix("http://").encode()
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(json.dumps({"stock": 7}))).encode()
    assert headers[b"accept-encoding"] == b"identity"


def test_idle_connections_kept_are_bounded_by_the_pool_size(raw, settings):
    settings.UPSTREAM_MAX_CONCURRENCY = 10
    raw(lambda *_: (ok(), False))
    from dashboard.concurrency import gather

    gather([lambda: ProductsClient().product_get(1) for _ in range(30)])
    adapter = session_for("productos_y_ofertas").get_adapter(settings.URL_PRODUCTOS_OFERTAS)
    (pool,) = adapter._pools.values()  # noqa: SLF001 - the pool's own bound is what is checked
    assert 1 <= len(pool._idle) <= 10  # noqa: SLF001


@pytest.mark.parametrize("trust_env", [False, True], ids=["transporte_propio", "pila_de_urllib3"])
def test_an_answer_trickled_a_byte_at_a_time_is_cut_at_the_call_deadline(raw, settings, trust_env):
    # Each byte comes well within the read timeout; the whole answer never comes within connect + read.
    settings.UPSTREAM_TRUST_ENV = trust_env
    settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT = 0.2, 0.3
    raw(lambda *_: (Trickle(ok()), True))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        ProductsClient().product_get(1)
    # Far less than the ~20 s the whole trickled answer takes (generous for a loaded machine).
    assert time.monotonic() - started < 5


def test_with_upstream_trust_env_calls_go_through_the_environment_proxy(raw, settings, monkeypatch):
    settings.UPSTREAM_TRUST_ENV = True
    proxy = raw(lambda *_: (ok(), False))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings.URL_PRODUCTOS_OFERTAS = "http://productos.interno.ejemplo"
    assert ProductsClient().product_get(1).id == 1
    assert proxy.heads[0].split(b"\r\n")[0] == b"GET http://productos.interno.ejemplo/api/productos/1 HTTP/1.1"


@pytest.fixture
def certificate(tmp_path) -> tuple[str, ssl.SSLContext]:
    """A self-signed certificate for localhost (openssl, as on the machine), and a server context with it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = system_tool("openssl", "openssl")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return str(cert), context


@pytest.mark.parametrize("trust_env", [False, True], ids=["transporte_propio", "pila_de_urllib3"])
def test_https_upstreams_signed_by_the_upstream_ca_bundle_are_verified_and_kept_alive(raw, certificate, settings,
                                                                                     trust_env):
    cafile, server_context = certificate
    settings.UPSTREAM_CA_BUNDLE = cafile  # a private CA: here, the test certificate itself
    settings.UPSTREAM_TRUST_ENV = trust_env
    server = raw(lambda *_: (ok(), False), tls=server_context)
    assert ProductsClient().product_get(1).id == 1
    assert ProductsClient().product_get(1).id == 1
    assert server.connections == 1


def test_an_https_upstream_with_a_certificate_we_do_not_trust_is_refused(raw, certificate):
    _cafile, server_context = certificate
    server = raw(lambda *_: (ok(), False), tls=server_context)
    with pytest.raises(UpstreamUnavailable):
        ProductsClient().product_get(1)
    assert server.heads == []  # nothing was sent over it


def test_a_write_does_not_reuse_a_connection_idle_long_enough_for_the_upstream_to_drop_it(raw, monkeypatch):
    monkeypatch.setattr(transport, "WRITE_MAX_IDLE_SECONDS", 0.2)
    server = raw(lambda *_: (ok(), False))
    ProductsClient().product_get(1)
    ProductsClient().product_set_stock(1, 5)  # idle a moment only: same connection
    assert server.connections == 1
    time.sleep(0.3)
    ProductsClient().product_set_stock(1, 4)  # idle past the limit: a new connection
    assert server.connections == 2
    time.sleep(0.3)
    ProductsClient().product_get(1)  # a read may reuse it (a dropped one is sent again)
    assert server.connections == 2


def test_an_unreadable_upstream_ca_bundle_is_a_failed_connection_not_a_crash(raw, certificate, settings, tmp_path):
    _cafile, server_context = certificate
    bad = tmp_path / "ca.pem"
    bad.write_text("no es un certificado")
    settings.UPSTREAM_CA_BUNDLE = str(bad)
    raw(lambda *_: (ok(), False), tls=server_context)
    with pytest.raises(UpstreamUnavailable):
        ProductsClient().product_get(1)
