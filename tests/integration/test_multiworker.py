"""Several worker processes (portal.serve, as run_server.sh) sharing a real Redis: stock locks hold across
processes."""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ANA = "72345678"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("service did not come up")


def start_redis() -> tuple[subprocess.Popen, str]:
    """A throwaway redis-server on a free loopback port (no persistence): the process and its URL."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (Debian package redis-server; .ci/run installs it)"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    wait_until(ping)
    return proc, f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_url():
    proc, url = start_redis()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def gunicorn_workers(sandbox, redis_url):
    port = free_port()
    env = {**os.environ,
           "URL_USUARIOS_COMPRAS": sandbox.urls["usuarios"], "URL_PRODUCTOS_OFERTAS": sandbox.urls["productos"],
           "URL_RECETAS_MEDICOS": sandbox.urls["recetas"], "CACHE_URL": redis_url,
           "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "False", "LOG_LEVEL": "WARNING",
           "WEB_CONCURRENCY": "4", "SERVER_THREADS": "8", "STOCK_LOCK_WAIT": "30", "UPSTREAM_DEADLINE": "60",
           "API_RATE_LIMIT": "100000"}
    proc = subprocess.Popen([sys.executable, "-m", "portal.serve", "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/api/orchestrator"
    wait_until(lambda: requests.get(base + "/health", timeout=1).status_code == 200)
    yield base
    proc.terminate()
    proc.wait(timeout=15)


def test_four_workers_with_redis_never_oversell(sandbox, gunicorn_workers):
    product = next(p for pid in sandbox.products.ids()
                   if not (p := sandbox.products.get(pid))["requiere_receta"] and p["stock"] > 0)
    sandbox.products.set_stock(product["id"], 10)
    token = sandbox.token_for(ANA)
    purchases_before = len(sandbox.users.purchases(ANA))

    def buy(_: int) -> requests.Response:
        return requests.post(gunicorn_workers + "/compras", timeout=60,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"productos": [{"producto_id": product["id"], "cantidad": 1}]})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(buy, range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 10 + [400] * 10, [a.text[:200] for a in answers if a.status_code not in (201, 400)]
    assert all(a.json()["details"]["code"] == "stock_insuficiente" for a in answers if a.status_code == 400)
    assert sandbox.products.get(product["id"])["stock"] == 0
    assert len(sandbox.users.purchases(ANA)) - purchases_before == 10
    # The stock was only ever written with values 9..0, each once: no lost update, never negative.
    writes = [p for m, p in sandbox.requests("productos") if m == "PUT" and p == f"/api/productos/{product['id']}"]
    assert len(writes) == 10


def test_four_workers_with_redis_run_one_key_sent_five_times_at_once_once(sandbox, gunicorn_workers):
    product = next(p for pid in sandbox.products.ids()
                   if not (p := sandbox.products.get(pid))["requiere_receta"] and p["stock"] > 5)
    stock = product["stock"]
    token = sandbox.token_for(ANA)
    purchases_before = len(sandbox.users.purchases(ANA))

    def buy(_: int) -> requests.Response:
        return requests.post(gunicorn_workers + "/compras", timeout=60,
                             headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "una-sola-vez"},
                             json={"productos": [{"producto_id": product["id"], "cantidad": 1}]})

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(buy, range(5)))
    # One runs; the others wait their turn (409) or get its answer replayed: never a second purchase.
    assert {a.status_code for a in answers} <= {201, 409} and 201 in {a.status_code for a in answers}
    assert len(sandbox.users.purchases(ANA)) - purchases_before == 1
    assert sandbox.products.get(product["id"])["stock"] == stock - 1
