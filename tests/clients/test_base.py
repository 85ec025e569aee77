"""The client base: error mapping, timeouts, headers, id validation, logging."""
from __future__ import annotations

import json
import logging

import pytest
import requests

from dashboard import context
from dashboard.clients import PrescriptionsClient, ProductsClient, UsersClient
from dashboard.clients.transport import UpstreamAdapter
from dashboard.errors import BadRequest, UpstreamFailed, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import product_payload, user_payload

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3MjM0NTY3OCJ9.c2VjcmV0LXNpZ25hdHVyZQ"


def test_client_maps_refused_connection_to_503_naming_the_service(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/1", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable) as exc:
        ProductsClient().product_get(1)
    assert exc.value.status == 503
    assert exc.value.details["servicio"] == "productos_y_ofertas"


@pytest.mark.parametrize("error", [requests.exceptions.ConnectTimeout(), requests.exceptions.ReadTimeout()])
def test_client_maps_timeouts_to_504(mocked, error):
    mocked.get(f"{PRODUCTS}/api/productos/1", body=error)
    with pytest.raises(UpstreamTimeout) as exc:
        ProductsClient().product_get(1)
    assert exc.value.status == 504
    assert exc.value.details["servicio"] == "productos_y_ofertas"


def test_client_maps_5xx_to_502(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/1", body="Internal Server Error", status=500)
    with pytest.raises(UpstreamFailed) as exc:
        ProductsClient().product_get(1)
    assert exc.value.status == 502


@pytest.mark.parametrize("body", ["<html><body>oops</body></html>", '{"nombre": "trunc', ""])
def test_client_maps_non_json_200_to_502(mocked, body):
    mocked.get(f"{PRODUCTS}/api/productos/1", body=body, status=200)
    with pytest.raises(UpstreamFailed):
        ProductsClient().product_get(1)


def test_client_maps_json_breaking_the_contract_to_502(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/1", json={"nombre": "X", "precio": "caro"})
    with pytest.raises(UpstreamFailed) as exc:
        ProductsClient().product_get(1)
    assert exc.value.details["motivo"] == "respuesta_fuera_de_contrato"
    assert exc.value.code == "respuesta_invalida"


@pytest.mark.parametrize(
    ("base", "path", "status", "body", "expected"),
    [
        (USERS, "/api/user/me", 403,
         {"timestamp": "2025-10-21T17:11:47Z", "status": 403, "error": "Acceso denegado", "message": "Access Denied"},
         "Acceso denegado: Access Denied"),
        (PRODUCTS, "/api/productos/1", 404, {"detail": "Producto no encontrado"}, "Producto no encontrado"),
        (PRESCRIPTIONS, "/api/recetas/68f7c2e4a1b2c3d4e5f60718", 404, {"error": "Receta no encontrada"},
         "Receta no encontrada"),
        (PRESCRIPTIONS, "/api/recetas/68f7c2e4a1b2c3d4e5f60718", 400,
         {"error": "Datos inválidos", "detalle": "fecha"}, "Datos inválidos: fecha"),
    ],
)
def test_client_keeps_upstream_4xx_status_and_message_in_every_dialect(mocked, base, path, status, body, expected):
    mocked.get(base + path, json=body, status=status)
    client = {USERS: UsersClient(token=TOKEN), PRODUCTS: ProductsClient(), PRESCRIPTIONS: PrescriptionsClient()}[base]
    call = {USERS: lambda: client.me(), PRODUCTS: lambda: client.product_get(1),
            PRESCRIPTIONS: lambda: client.prescription_get("68f7c2e4a1b2c3d4e5f60718")}[base]
    with pytest.raises(UpstreamRejected) as exc:
        call()
    assert exc.value.status == status
    assert exc.value.upstream_message == expected
    assert exc.value.message == f"Error en microservicio: {expected}"
    assert exc.value.details["upstream"] == body


def test_client_reads_fastapi_422_list_detail(mocked):
    detail = [{"type": "int_parsing", "loc": ["path", "id"], "msg": "Input should be a valid integer", "input": "x"}]
    mocked.get(f"{PRODUCTS}/api/productos/1", json={"detail": detail}, status=422)
    with pytest.raises(UpstreamRejected) as exc:
        ProductsClient().product_get(1)
    assert exc.value.upstream_message == "Input should be a valid integer"


def test_client_reads_html_error_pages(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/68f7c2e4a1b2c3d4e5f60718",
               body="<!DOCTYPE html><html><head><title>Error</title></head><body><pre>Cannot GET</pre></body></html>",
               status=404, content_type="text/html")
    with pytest.raises(UpstreamRejected) as exc:
        PrescriptionsClient().prescription_get("68f7c2e4a1b2c3d4e5f60718")
    assert exc.value.upstream_message == "Error"
    assert exc.value.body_is_json is False


def test_client_forwards_authorization_and_request_id(mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    ctx, token = context.begin("req-123")
    try:
        UsersClient(token=TOKEN).me()
    finally:
        context.end(token)
    sent = mocked.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["X-Request-ID"] == "req-123"


def test_client_sends_no_authorization_to_services_without_auth(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/1", json=product_payload(1))
    ProductsClient().product_get(1)
    assert "Authorization" not in mocked.calls[0].request.headers


def test_client_uses_timeouts_from_settings(mocked, settings, monkeypatch):
    settings.UPSTREAM_CONNECT_TIMEOUT = 1.5
    settings.UPSTREAM_READ_TIMEOUT = 3.5
    seen = {}
    original = UpstreamAdapter.send  # the adapter's send, as `responses` mocks it

    def spy(self, prepared, **kwargs):
        seen["timeout"] = kwargs.get("timeout")
        return original(self, prepared, **kwargs)

    monkeypatch.setattr(UpstreamAdapter, "send", spy)
    mocked.get(f"{PRODUCTS}/api/productos/1", json=product_payload(1))
    ProductsClient().product_get(1)
    assert seen["timeout"] == (1.5, 3.5)


@pytest.mark.parametrize("bad", ["../admin", "1/../../x", "%2e%2e", "-1", "1.5", "true", True, 0, -3, 1.5, None, "",
                                 " 1", "1\n"])
def test_client_refuses_bad_product_ids_without_network(mocked, bad):
    with pytest.raises(BadRequest):
        ProductsClient().product_get(bad)
    with pytest.raises(BadRequest):
        ProductsClient().product_set_stock(bad, 3)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("bad", ["../admin", "68f7c2e4a1b2c3d4e5f6071", "68f7c2e4a1b2c3d4e5f60718/validar",
                                 "%2e%2e", "-1", "1.5", "true", "g8f7c2e4a1b2c3d4e5f60718", 12,
                                 "68f7c2e4a1b2c3d4e5f60718\n"])
def test_client_refuses_bad_prescription_ids_without_network(mocked, bad):
    with pytest.raises(BadRequest):
        PrescriptionsClient().prescription_get(bad)
    with pytest.raises(BadRequest):
        PrescriptionsClient().prescription_set_state(bad, "validada")
    assert len(mocked.calls) == 0


def test_client_refuses_to_send_negative_stock(mocked):
    with pytest.raises(ValueError):
        ProductsClient().product_set_stock(1, -1)
    assert len(mocked.calls) == 0


def test_client_logs_one_line_per_call_without_secrets(mocked, caplog):
    mocked.post(f"{USERS}/api/auth/login", json={"token": TOKEN})
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    caplog.set_level(logging.DEBUG, logger="dashboard.upstream")  # calls that succeed log at DEBUG
    UsersClient().login(dni="72345678", password="S3creta!Clave")
    UsersClient(token=TOKEN).me()
    upstream_lines = [r for r in caplog.records if r.name == "dashboard.upstream"]
    assert len(upstream_lines) == 2
    assert "/api/auth/login" in upstream_lines[0].getMessage()
    assert upstream_lines[0].servicio == "usuarios_y_autenticacion_y_compras"
    assert upstream_lines[0].estado == 200
    everything = caplog.text + "".join(json.dumps(vars(r), default=str) for r in caplog.records)
    assert TOKEN not in everything
    assert "S3creta!Clave" not in everything
    assert "72345678" not in everything  # the login body (a DNI) is not logged either


def test_client_reuses_one_session_per_upstream(mocked):
    from dashboard.clients.base import session_for

    assert session_for("productos_y_ofertas") is session_for("productos_y_ofertas")
    assert session_for("productos_y_ofertas") is not session_for("recetas_y_medicos")
    adapter = session_for("productos_y_ofertas").get_adapter("http://x")
    from django.conf import settings

    assert adapter._pool_maxsize >= settings.UPSTREAM_MAX_CONCURRENCY


def test_client_echo_accepts_plain_text(mocked):
    mocked.get(f"{USERS}/echo", body="echo")
    assert UsersClient().echo() is None


def test_client_refuses_an_integer_product_id_too_long_for_a_url(mocked):
    with pytest.raises(BadRequest):
        ProductsClient().product_get(10**18)
    assert not mocked.calls
