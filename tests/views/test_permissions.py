"""Every page and fragment URL checks the session and the role itself (STYLE point 12)."""
from __future__ import annotations

import pytest

from tests.views.conftest import VALID_RX

GET_URLS = ["/", "/compras", "/compras/3", "/compras/3/fila", "/compras/export.csv", "/recetas",
            f"/recetas/{VALID_RX}", "/estado", "/estado/luz"]
ADMIN_ONLY_GET = ["/estado"]
SET_STATE = f"/recetas/{VALID_RX}/estado"


@pytest.mark.parametrize("url", GET_URLS)
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")


@pytest.mark.parametrize("url", GET_URLS)
def test_anonymous_htmx_is_sent_to_login(client, url):
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith("/login")


def test_anonymous_set_state_is_sent_to_login(client, mocked):
    response = client.post(SET_STATE, {"estado": "VALIDADA"})
    assert response.status_code == 302 and response["Location"] == "/login"
    assert not mocked.calls


@pytest.mark.parametrize("url", ADMIN_ONLY_GET)
def test_cliente_gets_403_on_admin_pages(client_client, world, url):
    response = client_client.get(url)
    assert response.status_code == 403
    assert "No tiene permiso" in response.content.decode()


@pytest.mark.parametrize("url", ADMIN_ONLY_GET)
def test_cliente_htmx_gets_403_alert(client_client, world, url):
    response = client_client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#alerts"


@pytest.mark.parametrize("htmx", [False, True])
def test_cliente_cannot_set_state(client_client, world, mocked, htmx):
    mocked.calls.reset()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client_client.post(SET_STATE, {"estado": "VALIDADA"}, **headers)
    assert response.status_code == 403
    assert not [c for c in mocked.calls if c.request.method == "PUT"]


@pytest.mark.parametrize("url", ["/", "/compras", "/compras/3", "/compras/3/fila", "/compras/export.csv",
                                 "/recetas", "/estado/luz"])
def test_cliente_may_open_their_pages(client_client, world, url):
    assert client_client.get(url).status_code == 200


def test_cliente_sees_no_admin_buttons_or_nav(client_client, world, mocked):
    body = client_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "Validar</button>" not in body and "Rechazar" not in body
    assert 'href="/estado"' not in body


def test_cliente_cannot_open_a_purchase_of_someone_else(client_client, world):
    assert client_client.get("/compras/20").status_code == 404


def test_cliente_lists_only_their_purchases(client_client, world, mocked):
    client_client.get("/compras")
    paths = [c.request.path_url for c in mocked.calls]
    assert "/api/compras/me" in paths and "/api/compras/all" not in paths


def test_htmx_error_alert_varies_on_hx_request(client_client, world):
    response = client_client.get("/estado", HTTP_HX_REQUEST="true")
    assert response.status_code == 403 and "HX-Request" in response["Vary"]


def test_error_page_varies_on_hx_request(client_client, world):
    response = client_client.get("/estado")
    assert response.status_code == 403 and "HX-Request" in response["Vary"]
