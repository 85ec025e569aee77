"""Each client method: the URL, the JSON sent and the typed value built from the answer."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
import responses

from dashboard.clients import PrescriptionsClient, ProductsClient, UsersClient
from dashboard.clients.base import DETALLE_MAX_CHARS
from dashboard.clients.prescriptions import PROBE_ID
from dashboard.errors import OperationNotSupported, OutcomeUncertain, UpstreamFailed, UpstreamRejected
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import (
    doctor_payload,
    offer_payload,
    page,
    prescription_payload,
    product_payload,
    purchase_payload,
    user_payload,
)

RID = "68f7c2e4a1b2c3d4e5f60718"


def test_users_login_sends_dni_or_email_and_returns_the_token(mocked):
    mocked.post(f"{USERS}/api/auth/login", json={"token": "a.b.c"})
    assert UsersClient().login(dni="72345678", password="x") == "a.b.c"
    assert UsersClient().login(email="ana@example.com", password="x") == "a.b.c"
    assert json.loads(mocked.calls[0].request.body) == {"dni": "72345678", "password": "x"}
    assert json.loads(mocked.calls[1].request.body) == {"email": "ana@example.com", "password": "x"}


def test_users_me_builds_a_user_without_id(mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload(role="ADMIN"))
    user = UsersClient(token="t.t.t").me()
    assert user.dni == "72345678" and user.is_admin and user.full_name == "Ana Quispe"


def test_users_all_builds_users(mocked):
    mocked.get(f"{USERS}/api/user/all", json=[user_payload("1"), user_payload("2")])
    assert [u.dni for u in UsersClient(token="t").users_all()] == ["1", "2"]


def test_users_purchase_create_posts_parallel_lists_only(mocked):
    mocked.post(f"{USERS}/api/compras", json=purchase_payload(productos=[12, 40], cantidades=[2, 1]), status=200)
    purchase = UsersClient(token="t").purchase_create(productos=[12, 40], cantidades=[2, 1])
    assert json.loads(mocked.calls[0].request.body) == {"productos": [12, 40], "cantidades": [2, 1]}
    assert purchase.id == 15 and purchase.productos == (12, 40) and purchase.cantidades == (2, 1)


def test_users_purchase_create_refuses_unequal_lists_without_network(mocked):
    with pytest.raises(ValueError):
        UsersClient(token="t").purchase_create(productos=[1, 2], cantidades=[1])
    assert not mocked.calls


def test_users_purchase_lists(mocked):
    mocked.get(f"{USERS}/api/compras/me", json=[purchase_payload(1), purchase_payload(2)])
    mocked.get(f"{USERS}/api/compras/all", json=[purchase_payload(3)])
    assert [p.id for p in UsersClient(token="t").purchases_mine()] == [1, 2]
    assert [p.id for p in UsersClient(token="t").purchases_all()] == [3]


def test_products_get_and_set_stock(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/40", json=product_payload(40, precio=12.9, stock=40, requiere_receta=True))
    mocked.put(f"{PRODUCTS}/api/productos/40", json=product_payload(40, stock=38))
    product = ProductsClient().product_get("40")
    assert product.precio == Decimal("12.9") and product.stock == 40 and product.requiere_receta
    assert ProductsClient().product_set_stock(40, 38).stock == 38
    assert json.loads(mocked.calls[1].request.body) == {"stock": 38}


def test_products_lists_send_their_one_filter(mocked):
    body = page([product_payload(1)], key="productos", size=25)
    mocked.get(f"{PRODUCTS}/api/productos/nombre", json=body)
    mocked.get(f"{PRODUCTS}/api/productos/stock-bajo", json=body)
    assert ProductsClient().products_by_name("amoxi").productos[0].id == 1
    assert ProductsClient().products_low_stock(minimo=5).total == 1
    assert "nombre=amoxi" in mocked.calls[0].request.url
    assert "minimo=5" in mocked.calls[1].request.url


def test_products_offers(mocked):
    mocked.get(f"{PRODUCTS}/api/ofertas/all", json=[offer_payload(1, detalles=[(12, 10.0)])])
    offers = ProductsClient().offers_all()
    assert offers[0].detalles[0].producto_id == 12 and offers[0].detalles[0].descuento == Decimal("10.0")


def test_prescriptions_get_and_filter(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/{RID}", json={**prescription_payload(RID), "pdfUrl": "https://x/y.pdf"})
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/filter", json=page([prescription_payload(RID)]))
    rx = PrescriptionsClient().prescription_get(RID)
    assert rx.paciente_dni == "72345678" and rx.productos[0].producto_id == 40 and rx.pdf_url == "https://x/y.pdf"
    result = PrescriptionsClient().prescriptions_filter(dni="72345678", estado="validada")
    assert result.total == 1
    assert "dni=72345678" in mocked.calls[1].request.url and "estado=validada" in mocked.calls[1].request.url


def test_prescriptions_set_state_uses_estado_route(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}",
               json={"mensaje": "ok", "receta": prescription_payload(RID, estado="rechazada")})
    assert PrescriptionsClient().prescription_set_state(RID, "rechazada").estado == "rechazada"
    assert json.loads(mocked.calls[0].request.body) == {"estadoValidacion": "rechazada"}


def test_prescriptions_set_state_falls_back_to_validar_on_html_404(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body="<html><pre>Cannot PUT</pre></html>",
               status=404, content_type="text/html")
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar", json=prescription_payload(RID, estado="validada"))
    assert PrescriptionsClient().prescription_set_state(RID, "validada").estado == "validada"
    assert [c.request.url.split("8083")[-1].split(".test")[-1] for c in mocked.calls] == [
        f"/api/recetas/estado/{RID}", f"/api/recetas/{RID}/validar"]


def test_prescriptions_set_state_does_not_fall_back_on_json_404_or_for_rejection(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", json={"error": "Receta no encontrada"}, status=404)
    with pytest.raises(UpstreamRejected):
        PrescriptionsClient().prescription_set_state(RID, "validada")
    assert len(mocked.calls) == 1


def test_prescriptions_html_404_for_rejection_is_501_and_not_retried_on_validar(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body="<html>Cannot PUT</html>", status=404)
    with pytest.raises(OperationNotSupported) as caught:
        PrescriptionsClient().prescription_set_state(RID, "rechazada")
    assert caught.value.status == 501 and caught.value.code == "operacion_no_soportada"
    assert caught.value.details["ruta"] == "PUT /api/recetas/estado/{id}"
    assert caught.value.details["servicio"] == "recetas_y_medicos"
    assert len(mocked.calls) == 1


def test_prescriptions_generation_is_learnt_from_an_answer_and_then_no_write_is_tried(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body="<html>Cannot PUT</html>", status=404)
    client = PrescriptionsClient()
    assert client.generation().estado_route is None
    with pytest.raises(OperationNotSupported):
        client.prescription_set_state(RID, "pendiente")
    assert client.generation().name == "nueva" and client.generation().how == "respuesta"
    with pytest.raises(OperationNotSupported):
        client.prescription_set_state(RID, "rechazada")
    assert len(mocked.calls) == 1  # the second refusal cost no upstream call


def test_prescriptions_generation_is_relearnt_when_stale(mocked, settings):
    settings.PRESCRIPTIONS_GENERATION_SECONDS = 0
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body="<html>Cannot PUT</html>", status=404)
    client = PrescriptionsClient()
    with pytest.raises(OperationNotSupported):
        client.prescription_set_state(RID, "rechazada")
    mocked.replace(responses.PUT, f"{PRESCRIPTIONS}/api/recetas/estado/{RID}",
                   json={"mensaje": "ok", "receta": prescription_payload(RID, estado="rechazada")})
    assert client.prescription_set_state(RID, "rechazada").estado == "rechazada"
    assert client.generation(probe=False).estado_route is None  # stale at once with 0 s


@pytest.mark.parametrize(("answer", "expected"), [
    ({"body": "<!DOCTYPE html><pre>Cannot PUT /api/recetas/estado/000000000000000000000000</pre>", "status": 404,
      "content_type": "text/html"}, False),
    ({"json": {"error": "Estado de validación inválido"}, "status": 400}, True),
    ({"json": {"error": "Receta no encontrada"}, "status": 404}, True),
])
def test_prescriptions_generation_probe_never_writes_a_real_state(mocked, answer, expected):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{PROBE_ID}", **answer)
    generation = PrescriptionsClient().generation(probe=True)
    assert generation.estado_route is expected and generation.how == "sondeo"
    sent = json.loads(mocked.calls[0].request.body)
    assert sent["estadoValidacion"] not in ("pendiente", "validada", "rechazada")
    assert mocked.calls[0].request.url.endswith("/api/recetas/estado/" + "0" * 24)


def test_prescriptions_generation_probe_that_fails_leaves_it_unknown(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{PROBE_ID}", body=requests.exceptions.ConnectTimeout())
    assert PrescriptionsClient().generation(probe=True).estado_route is None


def test_prescriptions_write_timeout_is_an_uncertain_outcome(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body=requests.exceptions.ReadTimeout())
    with pytest.raises(OutcomeUncertain) as caught:
        PrescriptionsClient().prescription_set_state(RID, "rechazada")
    assert caught.value.status == 504 and caught.value.code == "resultado_incierto"
    assert len(mocked.calls) == 1  # a write is never repeated


@pytest.mark.parametrize("answer", [{"body": "OK"}, {"json": {"mensaje": "Receta validada"}}, {"json": []}])
def test_prescriptions_write_answer_without_a_prescription_is_still_a_success(mocked, answer):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar", **answer)
    assert PrescriptionsClient().prescription_validate(RID) is None


def test_prescriptions_validar_500_keeps_the_sdk_message_trimmed(mocked):
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar", status=500, json={
        "error": "Error al validar la receta", "detalle": "Missing required key 'Bucket' in params" + "x" * 400,
        "codigo": "MissingRequiredParameter"})
    with pytest.raises(UpstreamFailed) as caught:
        PrescriptionsClient().prescription_validate(RID)
    detalle = caught.value.details["detalle"]
    assert detalle.startswith("Error al validar la receta: Missing required key 'Bucket' in params")
    assert len(detalle) == DETALLE_MAX_CHARS
    assert caught.value.status == 502


def test_doctors_filter_sends_the_sort_when_asked(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/medicos/filter", json=page([doctor_payload()], size_key="limit"))
    PrescriptionsClient().doctors_filter(page=1, sort="cmp")
    assert "sort=cmp" in mocked.calls[0].request.url


def test_doctors_filter_sends_cmp_and_limit(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/medicos/filter", json=page([doctor_payload()], size_key="limit"))
    result = PrescriptionsClient().doctors_filter(cmp="CMP100001", page=2)
    assert result.items[0].cmp == "CMP100001" and result.items[0].colegiatura_valida
    url = mocked.calls[0].request.url
    assert "cmp=CMP100001" in url and "limit=100" in url and "page=2" in url
