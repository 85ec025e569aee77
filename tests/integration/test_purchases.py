"""Purchases end to end: the orchestrator (Django test client, in process) against the sandbox over HTTP."""
from __future__ import annotations

import json
import threading
import time

import pytest
from django.test import Client

from sandbox import DEMO_LOGINS

pytestmark = pytest.mark.integration

ADMIN_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "ADMIN")
ANA_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
URL = "/api/orchestrator/compras"
PARACETAMOL, DICLOFENACO_SIN_STOCK, AMOXICILINA, AMOX_CLAVULANICO = 1, 11, 40, 41


def buy(client, sb, items: list[tuple[int, int]], dni: str = ANA_DNI, **headers):
    body = {"productos": [{"producto_id": p, "cantidad": c} for p, c in items]}
    return client.post(URL, data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {sb.token_for(dni)}", **headers)


def stock_writes(sb) -> list[tuple[str, str]]:
    return [r for r in sb.requests("productos") if r[0] == "PUT"]


def test_purchase_moves_the_sandbox_stock(client, sandbox):
    before = sandbox.products.get(PARACETAMOL)["stock"]
    purchases_before = len(sandbox.users.purchases(ANA_DNI))
    response = buy(client, sandbox, [(PARACETAMOL, 3)])
    assert response.status_code == 201
    body = response.json()
    assert sandbox.products.get(PARACETAMOL)["stock"] == before - 3
    assert len(sandbox.users.purchases(ANA_DNI)) == purchases_before + 1
    # Paracetamol 500mg (3.50) is in two active offers, 10 % and 5 %: the customer gets 10 %.
    line = body["productos_detalle"][0]
    assert (line["descuento"], line["precio_final"], line["subtotal"], body["total"]) == (10.0, 3.15, 9.45, 9.45)


def test_purchase_refused_for_stock_takes_nothing(client, sandbox):
    response = buy(client, sandbox, [(PARACETAMOL, 1), (DICLOFENACO_SIN_STOCK, 1)])
    assert response.status_code == 400
    assert response.json()["details"] == {"code": "stock_insuficiente", "producto_id": DICLOFENACO_SIN_STOCK,
                                          "disponible": 0, "solicitado": 1}
    assert stock_writes(sandbox) == []


def test_purchase_refused_without_a_validated_prescription(client, sandbox):
    response = buy(client, sandbox, [(AMOX_CLAVULANICO, 1)])  # Ana's prescription for it is still pending
    assert response.status_code == 400
    nombre = sandbox.products.get(AMOX_CLAVULANICO)["nombre"]
    assert response.json() == {
        "error": f"Los siguientes productos requieren receta médica validada: {nombre}",
        "details": {"code": "receta_requerida", "productos_sin_receta": [nombre],
                    "productos_sin_receta_ids": [AMOX_CLAVULANICO],
                    "unidades_disponibles": [{"producto_id": AMOX_CLAVULANICO, "solicitado": 1, "disponible": 0}]},
    }
    assert stock_writes(sandbox) == []


def test_purchase_allowed_by_a_validated_prescription(client, sandbox):
    before = sandbox.products.get(AMOXICILINA)["stock"]
    response = buy(client, sandbox, [(AMOXICILINA, 2)])  # Ana's validada prescription lists it x2
    assert response.status_code == 201
    assert sandbox.products.get(AMOXICILINA)["stock"] == before - 2


def test_purchase_gives_the_stock_back_when_the_purchase_cannot_be_stored(client, sandbox):
    before = [sandbox.products.get(p)["stock"] for p in (PARACETAMOL, 2)]
    sandbox.faults("usuarios", fail={"method": "POST", "path": "/api/compras", "status": 500, "count": 1})
    response = buy(client, sandbox, [(PARACETAMOL, 3), (2, 1)])
    assert response.status_code == 502
    assert response.json()["details"]["compensacion"] == {"estado": "devuelto"}
    assert [sandbox.products.get(p)["stock"] for p in (PARACETAMOL, 2)] == before
    assert len(stock_writes(sandbox)) == 4  # taken, then given back


def test_twenty_concurrent_purchases_of_ten_units_sell_exactly_ten(sandbox, settings):
    settings.STOCK_LOCK_WAIT = 60  # every buyer waits its turn: each gets a definitive answer, no 503
    sandbox.products.set_stock(PARACETAMOL, 10)
    purchases_before = len(sandbox.users.purchases())
    token = sandbox.token_for(ANA_DNI)
    start = threading.Barrier(20)
    statuses: list[int] = []
    bodies: list[dict] = []
    lock = threading.Lock()

    def one_buyer() -> None:
        client = Client()
        start.wait()
        response = client.post(URL, data=json.dumps({"productos": [PARACETAMOL], "cantidades": [1]}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        with lock:
            statuses.append(response.status_code)
            bodies.append(response.json())

    threads = [threading.Thread(target=one_buyer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [201] * 10 + [400] * 10
    assert all(b["details"]["code"] == "stock_insuficiente" for b in bodies if "details" in b)
    assert sandbox.products.get(PARACETAMOL)["stock"] == 0
    assert len(sandbox.users.purchases()) == purchases_before + 10
    # Each successful buyer wrote once (10 -> 9 -> ... -> 0); nobody wrote a stock below zero,
    # which the products service would have stored and then failed every read with a 500.
    assert len(stock_writes(sandbox)) == 10


def test_purchase_replayed_with_the_same_idempotency_key_buys_once(client, sandbox):
    before = sandbox.products.get(PARACETAMOL)["stock"]
    first = buy(client, sandbox, [(PARACETAMOL, 2)], HTTP_IDEMPOTENCY_KEY="pedido-0001")
    again = buy(client, sandbox, [(PARACETAMOL, 2)], HTTP_IDEMPOTENCY_KEY="pedido-0001")
    assert (first.status_code, again.status_code) == (201, 201) and again.json() == first.json()
    assert sandbox.products.get(PARACETAMOL)["stock"] == before - 2
    assert [r for r in sandbox.requests("usuarios") if r == ("POST", "/api/compras")] == [("POST", "/api/compras")]


def test_purchases_all_is_forbidden_for_a_customer(client, sandbox):
    response = client.get(f"{URL}/all", HTTP_AUTHORIZATION=f"Bearer {sandbox.token_for(ANA_DNI)}")
    assert response.status_code == 403
    assert ("GET", "/api/compras/all") not in sandbox.requests("usuarios")


def test_purchases_mine_lists_the_customers_purchases_enriched(client, sandbox):
    response = client.get(f"{URL}/me", HTTP_AUTHORIZATION=f"Bearer {sandbox.token_for(ANA_DNI)}")
    assert response.status_code == 200
    compras = response.json()["compras"]
    assert len(compras) == len(sandbox.users.purchases(ANA_DNI))
    assert [c["fecha_compra"] for c in compras] == sorted((c["fecha_compra"] for c in compras), reverse=True)
    assert compras[0]["productos_detalle"][0]["nombre"]


def test_purchases_all_for_an_admin_reads_each_product_once(client, sandbox, record_property, settings):
    settings.PRODUCT_CACHE_SECONDS = 0  # each listing reads its products (the cache is tested on its own)
    token = sandbox.token_for(ADMIN_DNI)
    client.get(f"{URL}/all", HTTP_AUTHORIZATION=f"Bearer {token}")  # warm: /api/user/me cached, pools open
    sandbox.clear_requests()
    started = time.perf_counter()
    response = client.get(f"{URL}/all", HTTP_AUTHORIZATION=f"Bearer {token}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    compras = response.json()["compras"]
    distinct = {line["producto_id"] for c in compras for line in c["productos_detalle"]}
    assert len(compras) == len(sandbox.users.purchases())
    product_reads = [r for r in sandbox.requests("productos") if r[0] == "GET"]
    assert len(product_reads) == len(distinct) == len({r[1] for r in product_reads})
    assert sandbox.requests("usuarios") == [("GET", "/api/compras/all")]
    # Reported (not asserted): the cost of /compras/all on the seed data.
    record_property("compras_all", {"compras": len(compras), "productos_distintos": len(distinct),
                                    "llamadas_upstream": 1 + len(product_reads), "ms": round(elapsed_ms, 1)})
    print(f"/compras/all: {len(compras)} compras, {1 + len(product_reads)} llamadas upstream, {elapsed_ms:.1f} ms")


def test_purchases_all_filters_by_user_and_paginates(client, sandbox):
    token = sandbox.token_for(ADMIN_DNI)
    response = client.get(f"{URL}/all", {"producto_id": "40", "page": "1", "page_size": "2"},
                          HTTP_AUTHORIZATION=f"Bearer {token}")
    body = response.json()
    expected = [p for p in sandbox.users.purchases() if 40 in p["productos"]]
    assert response.status_code == 200 and body["total"] == len(expected) and len(body["compras"]) == 2
    assert all(40 in c["productos"] for c in body["compras"])
