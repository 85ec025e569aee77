"""Durable purchases end to end against the sandbox: late writes, a killed orchestrator, Redis dying.

The invariant checked everywhere: the units registered upstream equal the units taken from stock,
and one `Idempotency-Key` never yields two purchases.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from sandbox import DEMO_LOGINS, Sandbox
from tests.integration.test_multiworker import free_port, start_redis, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
API = "/api/orchestrator"
ADMIN = next(login for login in DEMO_LOGINS if login["rol"] == "ADMIN")
ANA = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
PARACETAMOL = 1  # over the counter


def units_bought(sb: Sandbox, dni: str, product_id: int, since: int) -> int:
    """Units of `product_id` in the buyer's purchases after the first `since` ones."""
    return sum(qty for purchase in sb.users.purchases(dni)[since:]
               for pid, qty in zip(purchase["productos"], purchase["cantidades"], strict=True) if pid == product_id)


def wait_for(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def buy(client, sb: Sandbox, quantity: int = 2, **headers):
    body = {"productos": [{"producto_id": PARACETAMOL, "cantidad": quantity}]}
    return client.post(f"{API}/compras", data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {sb.token_for(ANA)}", **headers)


@pytest.fixture
def world(sandbox, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.4
    settings.PURCHASE_GRACE_SECONDS = 0
    return sandbox


# In process (Django's test client) against the sandbox over HTTP ------------------------------------
def test_late_registration_without_key_is_resolved_with_the_key_it_was_given(client, world):
    stock, purchases = world.products.get(PARACETAMOL)["stock"], len(world.users.purchases(ANA))
    world.faults("usuarios", slow_lands={"method": "POST", "path": "/api/compras", "seconds": 1.0})
    first = buy(client, world)
    assert first.status_code == 504 and first.json()["details"]["code"] == "resultado_incierto"
    key = first["Idempotency-Key"]
    assert world.products.get(PARACETAMOL)["stock"] == stock - 2  # kept: it may have landed
    wait_for(lambda: len(world.users.purchases(ANA)) == purchases + 1)  # ...and it does
    again = buy(client, world, HTTP_IDEMPOTENCY_KEY=key)
    assert again.status_code == 201 and again.json()["id"] == world.users.purchases(ANA)[-1]["id"]
    assert buy(client, world, HTTP_IDEMPOTENCY_KEY=key).json() == again.json()
    assert len(world.users.purchases(ANA)) == purchases + 1
    assert stock - world.products.get(PARACETAMOL)["stock"] == units_bought(world, ANA, PARACETAMOL, purchases) == 2


def test_late_registration_with_key_found_within_the_grace_window(client, world, settings):
    settings.PURCHASE_GRACE_SECONDS = 5
    stock, purchases = world.products.get(PARACETAMOL)["stock"], len(world.users.purchases(ANA))
    world.faults("usuarios", slow_lands={"method": "POST", "path": "/api/compras", "seconds": 1.0})
    answer = buy(client, world, HTTP_IDEMPOTENCY_KEY="durable-1")
    assert answer.status_code == 201
    assert buy(client, world, HTTP_IDEMPOTENCY_KEY="durable-1").json() == answer.json()
    assert len(world.users.purchases(ANA)) == purchases + 1
    assert stock - world.products.get(PARACETAMOL)["stock"] == units_bought(world, ANA, PARACETAMOL, purchases) == 2


def test_late_stock_write_loses_no_unit(client, world):
    stock, purchases = world.products.get(PARACETAMOL)["stock"], len(world.users.purchases(ANA))
    world.faults("productos", slow_lands={"method": "PUT", "path": f"/api/productos/{PARACETAMOL}", "seconds": 1.0})
    answer = buy(client, world)
    assert answer.status_code == 504 and answer.json()["details"]["compensacion"] == {"estado": "devuelto"}
    time.sleep(1.2)  # long after the late write landed
    assert world.products.get(PARACETAMOL)["stock"] == stock and len(world.users.purchases(ANA)) == purchases


# The orchestrator as production runs it (portal.serve), killed or losing Redis ---------------------------
def serve(sb: Sandbox, tmp_path: Path, **extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "URL_USUARIOS_COMPRAS": sb.urls["usuarios"], "URL_PRODUCTOS_OFERTAS": sb.urls["productos"],
           "URL_RECETAS_MEDICOS": sb.urls["recetas"], "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "False",
           "LOG_LEVEL": "WARNING", "PURCHASE_JOURNAL": str(tmp_path / "diario.jsonl"), "WEB_CONCURRENCY": "1",
           "UPSTREAM_READ_TIMEOUT": "10", "UPSTREAM_DEADLINE": "30", **extra}
    proc = subprocess.Popen([sys.executable, "-m", "portal.serve", "--bind", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}{API}"
    wait_until(lambda: requests.get(base + "/health", timeout=1).status_code == 200)
    return proc, base


def post_in_background(base: str, sb: Sandbox, results: list, quantity: int = 2, key: str | None = None):
    def run() -> None:
        try:
            results.append(requests.post(
                base + "/compras", timeout=30,
                headers={"Authorization": f"Bearer {sb.token_for(ANA)}", **({"Idempotency-Key": key} if key else {})},
                json={"productos": [{"producto_id": PARACETAMOL, "cantidad": quantity}]}))
        except requests.RequestException as exc:
            results.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def reconcile(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PURCHASE_JOURNAL": str(tmp_path / "diario.jsonl"),
           "RECONCILE_ADMIN_DNI": ADMIN["dni"], "RECONCILE_ADMIN_PASSWORD": ADMIN["password"], **extra}
    return subprocess.run([sys.executable, "manage.py", "reconcile", "--min-age", "0", "--no-input"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("lands", [True, False], ids=["registro_llega", "registro_no_llega"])
def test_sigkill_mid_registration_then_reconcile_restores_the_invariant(sandbox, tmp_path, lands):
    stock, purchases = sandbox.products.get(PARACETAMOL)["stock"], len(sandbox.users.purchases(ANA))
    proc, base = serve(sandbox, tmp_path)
    sandbox.clear_requests()
    sandbox.faults("usuarios", slow_lands={"method": "POST", "path": "/api/compras", "seconds": 1.5})
    results: list = []
    thread = post_in_background(base, sandbox, results)
    wait_for(lambda: ("POST", "/api/compras") in sandbox.requests("usuarios"))
    os.killpg(proc.pid, signal.SIGKILL)  # the whole server, mid-registration
    proc.wait(timeout=10)
    thread.join(timeout=30)
    assert isinstance(results[0], requests.RequestException)  # the caller never got an answer
    if lands:
        wait_for(lambda: len(sandbox.users.purchases(ANA)) == purchases + 1)
    else:
        sandbox.faults("usuarios", down=True)  # the users service dies with the request too
        sandbox.faults("usuarios", down=False)
        time.sleep(1.7)
        assert len(sandbox.users.purchases(ANA)) == purchases
    # Stock taken, purchase unknown: the journal knows, and says so.
    events = [json.loads(line) for line in (tmp_path / "diario.jsonl").read_text().splitlines()]
    assert [e["evento"] for e in events] == ["inicio", "stock", "registro"] and events[1]["estado"] == "tomado"
    assert sandbox.products.get(PARACETAMOL)["stock"] == stock - 2

    result = reconcile(tmp_path, PURCHASE_SETTLE_SECONDS="0", URL_USUARIOS_COMPRAS=sandbox.urls["usuarios"],
                       URL_PRODUCTOS_OFERTAS=sandbox.urls["productos"], URL_RECETAS_MEDICOS=sandbox.urls["recetas"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("registrada" if lands else "devuelta") in result.stdout
    taken = stock - sandbox.products.get(PARACETAMOL)["stock"]
    assert taken == units_bought(sandbox, ANA, PARACETAMOL, purchases) == (2 if lands else 0)
    again = reconcile(tmp_path, URL_USUARIOS_COMPRAS=sandbox.urls["usuarios"])
    assert again.returncode == 0 and "nada pendiente" in again.stdout


@pytest.fixture
def redis_server():
    proc, url = start_redis()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_redis_killed_mid_purchase_never_500_and_loses_nothing(sandbox, tmp_path, redis_server):
    redis_proc, redis_url = redis_server
    stock, purchases = sandbox.products.get(PARACETAMOL)["stock"], len(sandbox.users.purchases(ANA))
    proc, base = serve(sandbox, tmp_path, CACHE_URL=redis_url)
    try:
        sandbox.clear_requests()
        sandbox.faults("productos", slow_lands={"method": "PUT", "path": f"/api/productos/{PARACETAMOL}",
                                                "seconds": 1.0})
        results: list = []
        thread = post_in_background(base, sandbox, results, key="redis-1")
        wait_for(lambda: ("PUT", f"/api/productos/{PARACETAMOL}") in sandbox.requests("productos"))
        redis_proc.kill()  # SIGKILL, mid-purchase
        thread.join(timeout=30)
        answer = results[0]
        assert answer.status_code in (201, 503), answer.text
        assert answer.headers["Content-Type"].startswith("application/json")
        taken = stock - sandbox.products.get(PARACETAMOL)["stock"]
        assert taken == units_bought(sandbox, ANA, PARACETAMOL, purchases)
        # What the journal could not put in Redis went to its file.
        events = [json.loads(line) for line in (tmp_path / "diario.jsonl").read_text().splitlines()]
        assert events and events[-1]["evento"] == "fin"

        refused = requests.post(base + "/compras", timeout=30,
                                headers={"Authorization": f"Bearer {sandbox.token_for(ANA)}"},
                                json={"productos": [{"producto_id": PARACETAMOL, "cantidad": 1}]})
        assert refused.status_code == 503 and refused.json()["details"]["code"] == "cache_no_disponible"
        assert int(refused.headers["Retry-After"]) >= 1
        assert stock - sandbox.products.get(PARACETAMOL)["stock"] == taken  # nothing taken
        ready = requests.get(base + "/ready", timeout=30)
        assert ready.status_code == 503 and ready.json()["cache"]["status"] == "down"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
