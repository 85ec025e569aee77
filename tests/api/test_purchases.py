"""The /compras routes over the Django test client: auth, status codes, bodies, idempotency."""
from __future__ import annotations

import json
import time

import pytest
import requests
from django.core.cache import cache

from dashboard import context
from dashboard.errors import Conflict
from dashboard.services.purchase_saga.idempotency import Ticket, fingerprint, run_idempotent
from dashboard.services.purchase_saga.locks import lock_key
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import product_payload, purchase_payload, user_payload
from tests.services.test_purchases_support import (
    ANA,
    AUTH,
    FakeProducts,
    calls,
    mock_create,
    mock_me,
    purchase_world,
    sent,
)

URL = "/api/orchestrator/compras"
COMPRAS = f"{USERS}/api/compras"
RX_FILTER = f"{PRESCRIPTIONS}/api/recetas/filter"


def post(client, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **AUTH, **headers)


BODY = {"productos": [{"producto_id": 1, "cantidad": 2}], "datos_adicionales": {"metodo_pago": "tarjeta"}}


# Register ----------------------------------------------------------------------------------------
def test_purchase_register_answers_201_with_the_receipt(client, mocked):
    purchase_world(mocked, product_payload(1, precio=5.5, stock=10))
    response = post(client, BODY)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == 15 and body["total"] == 11.0 and body["productos_detalle"][0]["stock"] == 8
    assert body["datos_adicionales"] == {"metodo_pago": "tarjeta"}


def test_purchase_register_teaches_the_dashboard_its_buyer(client, mocked):
    from dashboard.services.buyers import known_buyer_dnis

    purchase_world(mocked, product_payload(1, precio=5.5, stock=10))
    body = post(client, BODY).json()
    assert known_buyer_dnis([body["usuarioId"]]) == {body["usuarioId"]: ANA}


def test_purchase_register_buys_for_the_token_not_the_body(client, mocked):
    purchase_world(mocked, product_payload(1))
    post(client, {"productos": [1], "cantidades": [1], "dni": "99999999", "usuarioId": 77,
                  "datos_adicionales": {"dni": "99999999"}})
    assert sent(mocked, "POST", COMPRAS) == [{"productos": [1], "cantidades": [1]}]
    rx_query = next(c.request.params for c in mocked.calls if c.request.url.startswith(RX_FILTER))
    assert rx_query["dni"] == ANA


def test_purchase_register_answers_400_for_invalid_json(client, mocked):
    mock_me(mocked)
    response = post(client, "{productos: [1]")
    assert response.status_code == 400 and response.json()["details"]["code"] == "json_invalido"


@pytest.mark.parametrize("raw", [
    '{"productos": [' + "1" * 5000 + '], "cantidades": [1]}',  # past int()'s 4300-digit limit
    "[" * 20_000 + "]" * 20_000,  # deeper than the parser's recursion limit
    '{"productos": [1], "cantidades": [1], "datos_adicionales": {"x": NaN}}',
    '{"productos": [1], "cantidades": [1], "datos_adicionales": {"x": Infinity}}',
    '{"productos": [1], "cantidades": [1], "datos_adicionales": {"\\ud800": 1}}',  # a lone surrogate
], ids=["huge_number", "deep_nesting", "nan", "infinity", "lone_surrogate"])
def test_purchase_register_answers_400_for_json_python_would_choke_on(client, mocked, raw):
    purchase_world(mocked, product_payload(1))
    response = post(client, raw)
    assert response.status_code == 400 and response.json()["details"]["code"] == "json_invalido"
    assert calls(mocked, "POST", COMPRAS) == 0


def test_purchase_register_names_the_bad_line(client, mocked):
    mock_me(mocked)
    response = post(client, {"productos": [1, 2], "cantidades": [1, 2.5]})
    assert response.status_code == 400
    assert response.json() == {"error": "Línea 2: 'cantidad' debe ser un entero entre 1 y 999",
                               "details": {"code": "linea_invalida", "linea": 2, "campo": "cantidad"}}
    assert calls(mocked, "GET", f"{PRODUCTS}/api/productos/1") == 0


def test_purchase_register_refusal_for_stock_is_a_400(client, mocked):
    purchase_world(mocked, product_payload(1, nombre="Paracetamol 500mg", stock=1))
    response = post(client, BODY)
    assert response.status_code == 400
    assert response.json()["details"] == {"code": "stock_insuficiente", "producto_id": 1, "disponible": 1,
                                          "solicitado": 2}


def test_purchase_register_requires_a_token(client, mocked):
    response = client.post(URL, data=json.dumps(BODY), content_type="application/json")
    assert response.status_code == 401 and response.json()["error"] == "Token de autenticación requerido"
    assert not mocked.calls


def test_purchase_register_answers_401_when_the_users_service_refuses_the_token(client, mocked):
    mocked.get(f"{USERS}/api/user/me", status=403,
               json={"timestamp": "x", "status": 403, "error": "Acceso denegado", "message": "Access Denied"})
    response = post(client, BODY)
    assert response.status_code == 401 and response.json()["error"] == "Token inválido o expirado"


def test_purchase_register_reports_the_give_back_in_the_error(client, mocked):
    mock_me(mocked)
    fake = FakeProducts(mocked, product_payload(1, stock=10))
    mocked.get(f"{PRODUCTS}/api/ofertas/all", json=[])
    mocked.get(RX_FILTER, json={"page": 1, "pagesize": 100, "total": 0, "items": []})
    mock_create(mocked, status=500)
    mocked.get(f"{USERS}/api/compras/me", json=[])  # looked for after the 500: not stored
    response = post(client, BODY)
    assert response.status_code == 502
    assert response.json()["details"]["compensacion"] == {"estado": "devuelto"} and fake.stock(1) == 10


def test_purchase_register_keeps_the_stock_when_a_registration_that_used_up_the_deadline_is_not_found(
        client, mocked, settings):
    settings.PURCHASE_GRACE_SECONDS = 0.3
    mock_me(mocked)
    fake = FakeProducts(mocked, product_payload(1, stock=10))
    mocked.get(f"{PRODUCTS}/api/ofertas/all", json=[])
    mocked.get(RX_FILTER, json={"page": 1, "pagesize": 100, "total": 0, "items": []})
    listed = mocked.get(f"{USERS}/api/compras/me", json=[])

    def times_out_at_the_deadline(request):
        context.current().deadline = time.monotonic() - 0.001  # the POST took all the time there was
        raise requests.exceptions.ReadTimeout("no answer")
    mocked.add_callback("POST", COMPRAS, callback=times_out_at_the_deadline)
    response = post(client, BODY)
    body = response.json()
    # It may still land: the stock stays taken, and the caller gets a key to learn the outcome with.
    assert response.status_code == 504 and body["details"]["code"] == "resultado_incierto"
    assert fake.stock(1) == 8 and listed.call_count >= 1
    assert response["Idempotency-Key"].startswith("orq-") and body["details"]["idempotency_key"] == response[
        "Idempotency-Key"]


def test_purchase_register_answers_503_while_the_product_is_locked(client, mocked, settings):
    settings.STOCK_LOCK_WAIT = 0.05
    fake = purchase_world(mocked, product_payload(1, stock=10))
    cache.add(lock_key(1), "otra", 30)
    response = post(client, BODY)
    assert response.status_code == 503 and response.json()["details"]["code"] == "bloqueo_no_disponible"
    assert calls(mocked, "PUT", f"{PRODUCTS}/api/productos/1") == 0 and fake.stock(1) == 10


# Idempotency -------------------------------------------------------------------------------------
def test_purchase_register_replays_the_first_answer_for_the_same_key(client, mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    first = post(client, BODY, HTTP_IDEMPOTENCY_KEY="compra-123")
    again = post(client, BODY, HTTP_IDEMPOTENCY_KEY="compra-123")
    assert (first.status_code, again.status_code) == (201, 201) and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert calls(mocked, "POST", COMPRAS) == 1 and fake.stock(1) == 8


def test_purchase_register_keys_are_per_caller(client, mocked):
    purchase_world(mocked, product_payload(1, stock=10))
    post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    mocked.replace("GET", f"{USERS}/api/user/me", json=user_payload("70112233"))
    other = client.post(URL, data=json.dumps(BODY), content_type="application/json",
                        HTTP_AUTHORIZATION="Bearer otro.token.firma", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 201 and calls(mocked, "POST", COMPRAS) == 2


def test_purchase_register_refuses_a_reused_key_with_another_body(client, mocked):
    purchase_world(mocked, product_payload(1, stock=10))
    post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    response = post(client, {"productos": [{"producto_id": 1, "cantidad": 3}]}, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422 and response.json()["details"]["code"] == "idempotency_key_reutilizada"
    assert calls(mocked, "POST", COMPRAS) == 1


def test_purchase_register_answers_409_while_the_same_key_is_running(client, mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    inner: list = []

    def repeat_while_running(pid: int, nth: int) -> None:
        if nth == 1:  # the first request is mid-flight: the client retries
            inner.append(post(client, BODY, HTTP_IDEMPOTENCY_KEY="k"))
    fake.after_get = repeat_while_running
    first = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201 and inner[0].status_code == 409
    assert inner[0].json()["details"]["code"] == "idempotency_en_curso"
    assert calls(mocked, "POST", COMPRAS) == 1


def test_purchase_register_replays_a_business_refusal(client, mocked):
    fake = purchase_world(mocked, product_payload(1, stock=1))
    first = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    fake.products[1]["stock"] = 50
    again = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, again.status_code) == (400, 400) and again.json() == first.json()


def test_purchase_register_lets_a_retry_succeed_after_a_5xx_before_any_write(client, mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    fake.get_failures[1] = [500]  # the first read fails: nothing was touched
    assert post(client, BODY, HTTP_IDEMPOTENCY_KEY="k").status_code == 502
    assert post(client, BODY, HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert fake.stock(1) == 8


def test_purchase_register_replays_a_resolved_failure_once_stock_was_touched(client, mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    fake.put_failures[1] = [500]  # may have landed: restored, and that failure is the key's answer
    first = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    again = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, again.status_code) == (502, 502) and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and first.json()["details"]["compensacion"] == {"estado": "devuelto"}
    assert fake.stock(1) == 10 and calls(mocked, "POST", COMPRAS) == 0
    assert post(client, BODY, HTTP_IDEMPOTENCY_KEY="otra").status_code == 201 and fake.stock(1) == 8


@pytest.mark.parametrize("key", ["", "con espacio", "ñandú", "x" * 256, "clave\n"])
def test_purchase_register_refuses_a_bad_idempotency_key(client, mocked, key):
    mock_me(mocked)
    response = post(client, BODY, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and response.json()["details"]["code"] == "idempotency_key_invalida"


def test_run_idempotent_refuses_a_concurrent_repeat():
    def ticket():
        return Ticket(scope="1", key="k", fingerprint="a")

    def work():
        with pytest.raises(Conflict):
            run_idempotent(ticket=ticket(), work=lambda: (201, {}), resolve=lambda attempt: (201, {}))
        return 201, {"ok": True}
    assert run_idempotent(ticket=ticket(), work=work, resolve=lambda attempt: (201, {})).body == {"ok": True}


def test_fingerprint_ignores_key_order():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})


# Listings ----------------------------------------------------------------------------------------
def test_purchase_list_mine_answers_the_enriched_list(client, mocked):
    mock_me(mocked)
    FakeProducts(mocked, product_payload(1))
    mocked.get(f"{USERS}/api/compras/me", json=[purchase_payload(1), purchase_payload(2, fecha="2025-11-01T10:00:00")])
    response = client.get(f"{URL}/me", **AUTH)
    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["compras"]] == [2, 1] and "advertencias" not in body


def test_purchase_list_mine_requires_a_token(client, mocked):
    assert client.get(f"{URL}/me").status_code == 401 and not mocked.calls


def test_purchase_list_all_is_forbidden_for_a_customer(client, mocked):
    mock_me(mocked, role="CLIENTE")
    response = client.get(f"{URL}/all", **AUTH)
    assert response.status_code == 403 and response.json()["error"] == "Se requieren permisos de administrador"
    assert calls(mocked, "GET", f"{USERS}/api/compras/all") == 0


def test_purchase_list_all_filters_and_paginates(client, mocked):
    mock_me(mocked, role="ADMIN")
    FakeProducts(mocked, product_payload(1), product_payload(2))
    mocked.get(f"{USERS}/api/compras/all", json=[
        purchase_payload(1, productos=[1], usuario_id=3), purchase_payload(2, productos=[2], usuario_id=4),
        purchase_payload(3, productos=[1], usuario_id=3, fecha="2025-10-22T08:00:00")])
    response = client.get(f"{URL}/all", {"usuario_id": "3", "page": "1", "page_size": "1"}, **AUTH)
    body = response.json()
    assert response.status_code == 200 and [p["id"] for p in body["compras"]] == [3]
    assert (body["total"], body["page"], body["page_size"]) == (2, 1, 1)


def test_purchase_list_all_refuses_bad_query_values(client, mocked):
    mock_me(mocked, role="ADMIN")
    response = client.get(f"{URL}/all", {"desde": "ayer"}, **AUTH)
    assert response.status_code == 400 and response.json()["details"] == {"code": "parametro_invalido",
                                                                           "parametro": "desde"}
    assert calls(mocked, "GET", f"{USERS}/api/compras/all") == 0


@pytest.mark.parametrize("name", ["page", "usuario_id"])
def test_purchase_list_all_refuses_a_number_of_thousands_of_digits(client, mocked, name):
    mock_me(mocked, role="ADMIN")
    response = client.get(f"{URL}/all", {name: "9" * 5000}, **AUTH)
    assert response.status_code == 400 and response.json()["details"] == {"code": "parametro_invalido",
                                                                           "parametro": name}


def test_purchase_list_all_accepts_leading_zeros(client, mocked):
    mock_me(mocked, role="ADMIN")
    mocked.get(f"{USERS}/api/compras/all", json=[])
    body = client.get(f"{URL}/all", {"page": "0002", "page_size": "5"}, **AUTH).json()
    assert (body["page"], body["page_size"]) == (2, 5)


def test_purchase_list_all_warns_when_products_are_down(client, mocked):
    mock_me(mocked, role="ADMIN")
    mocked.get(f"{USERS}/api/compras/all", json=[purchase_payload(1)])
    mocked.get(f"{PRODUCTS}/api/productos/1", body=requests.exceptions.ConnectionError("refused"))
    body = client.get(f"{URL}/all", **AUTH).json()
    assert body["advertencias"] == ["Servicio de productos no disponible: detalles incompletos"]
    assert body["compras"][0]["productos_detalle"][0]["error"] == "Producto no disponible"
