"""The app as run_server.sh serves it (portal.serve: waitress), on a free loopback port, against hostile
clients: idle and trickling connections, oversized headers, garbage, a Host not allowed, a chunked body.

Raw sockets, loopback only, every loop bounded; a probe that gets no answer within its socket timeout
fails the test (no wall-clock assertions beyond that bound).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from bench.connections import Hostiles, free_port, probe_once
from sandbox import DEMO_LOGINS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent.parent
ANA_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "CLIENTE")


@pytest.fixture(scope="module")
def served(sandbox_server):
    """run_server.sh on a free port (without --demo), pointed at the session's sandbox."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "SECRET_KEY": secrets.token_urlsafe(50),
           "DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
           "JWT_SECRET": sandbox_server.jwt_secret, "API_RATE_LIMIT": "100000",
           "API_RATE_LIMIT_PER_ADDRESS": "100000", "URL_USUARIOS_COMPRAS": sandbox_server.urls["usuarios"],
           "URL_PRODUCTOS_OFERTAS": sandbox_server.urls["productos"],
           "URL_RECETAS_MEDICOS": sandbox_server.urls["recetas"]}
    proc = subprocess.Popen([str(ROOT / "run_server.sh")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):  # up to ~30 s for collectstatic and the first answer
            try:
                probe_once(port)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("run_server.sh exited") from None
                __import__("time").sleep(0.1)
        else:
            raise RuntimeError("run_server.sh did not answer /health")
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the script's own group: bash and the server it started
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def raw(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send `data` as is; (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may refuse before reading everything; its answer is still there
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return int(lines[0].split()[1]), headers, body


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


def request(method: str, target: str, *, host: str = "127.0.0.1", headers: dict[str, str] | None = None,
            body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_health_answers_while_idle_and_header_trickling_connections_are_held(served):
    hostiles = Hostiles(served, idle=200, trickle=100, every=0.5)
    try:
        probes = [probe_once(served) for _ in range(30)]  # each within its 5 s socket timeout
        assert len(probes) == 30
        assert hostiles.still_open() >= 290  # held open, not dropped: they really were there
    finally:
        hostiles.close()


def test_health_answers_while_request_bodies_trickle(served):
    hostiles = Hostiles(served, idle=0, trickle=0, every=0.5, trickle_body=40)  # more than the 16 threads
    try:
        assert len([probe_once(served) for _ in range(20)]) == 20
        assert hostiles.still_open() >= 35
    finally:
        hostiles.close()


def _json_error(status: int, headers: dict[str, str], body: bytes, expected_status: int, code: str) -> None:
    assert status == expected_status, body[:200]
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["details"]["code"] == code


def test_headers_over_the_limit_are_a_json_431(served):
    huge = {"X-Relleno": "a" * 100_000}
    _json_error(*raw(served, request("GET", "/api/orchestrator/health", headers=huge)), 431,
                "cabeceras_demasiado_grandes")


def test_a_request_line_over_the_server_limit_is_json_too(served):
    _json_error(*raw(served, request("GET", "/api/orchestrator/health?q=" + "a" * 100_000)), 431,
                "cabeceras_demasiado_grandes")


def test_a_uri_over_max_uri_bytes_is_a_json_414(served):
    _json_error(*raw(served, request("GET", "/api/orchestrator/compras/me?q=" + "a" * 10_000)), 414,
                "uri_demasiado_larga")


def test_a_host_not_allowed_is_a_json_400_under_the_api(served):
    _json_error(*raw(served, request("GET", "/api/orchestrator/health", host="evil.example")), 400,
                "host_no_permitido")


def test_garbage_is_a_json_400(served):
    _json_error(*raw(served, b"NOT HTTP AT ALL\r\n\r\n"), 400, "solicitud_invalida")


def test_a_body_over_the_servers_cap_is_a_json_413_without_being_read(served):
    headers = {"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024)}
    _json_error(*raw(served, request("POST", "/api/orchestrator/compras", headers=headers, body=b"{")), 413,
                "cuerpo_demasiado_grande")


def _chunked(data: bytes, size: int = 7) -> bytes:
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("encoding", ["content-length", "chunked"])
def test_a_chunked_purchase_works_like_a_plain_one(served, sandbox, encoding):
    body = json.dumps({"productos": [{"producto_id": 1, "cantidad": 1}]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sandbox.token_for(ANA_DNI)}"}
    if encoding == "chunked":
        headers["Transfer-Encoding"] = "chunked"
        payload = _chunked(body)
    else:
        headers["Content-Length"] = str(len(body))
        payload = body
    status, _, answer = raw(served, request("POST", "/api/orchestrator/compras", headers=headers, body=payload))
    assert status == 201, answer[:300]
    assert json.loads(answer)["productos_detalle"][0]["producto_id"] == 1
