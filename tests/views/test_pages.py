"""Pages vs fragments, and what each page shows (and keeps showing when an upstream is down)."""
from __future__ import annotations

import csv
import io
import re

import pytest

from dashboard.clients.prescriptions import PROBE_ID
from tests.conftest import PRESCRIPTIONS, PRODUCTS
from tests.views.conftest import INVALID_RX, VALID_RX, is_full_page

FRAGMENTS = [
    ("/compras", 'id="purchase-table"'),
    ("/compras/3", 'id="compra-3"'),
    ("/compras/3/fila", 'id="compra-3"'),
    ("/recetas", 'id="prescription-queue"'),
    (f"/recetas/{VALID_RX}", 'id="prescription-review"'),
    ("/estado", 'id="status-table"'),
    ("/estado/luz", 'id="status-light"'),
]


@pytest.mark.parametrize(("url", "root"), FRAGMENTS)
def test_fragment_url_serves_the_fragment_to_htmx(admin_client, world, url, root):
    response = admin_client.get(url, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert not is_full_page(response)
    assert root in re.search(r"<[a-z]+[^>]*>", body).group(0)  # the fragment's root element owns the id


@pytest.mark.parametrize(("url", "root"), FRAGMENTS)
def test_fragment_url_serves_the_full_page_to_a_normal_request(admin_client, world, url, root):
    response = admin_client.get(url)
    assert response.status_code == 200
    assert is_full_page(response)
    assert 'hx-headers=\'{"x-csrftoken"' in response.content.decode()


@pytest.mark.parametrize(("url", "root"), FRAGMENTS)
def test_fragment_url_varies_on_hx_request(admin_client, world, url, root):
    assert "HX-Request" in admin_client.get(url)["Vary"]


def test_history_restore_gets_the_full_page(admin_client, world):
    response = admin_client.get("/compras", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert is_full_page(response)


def test_base_configures_htmx_without_inline_script(admin_client, world):
    body = admin_client.get("/").content.decode()
    assert '<meta name="htmx-config"' in body and '"code": "422", "swap": true' in body
    assert "<script>" not in body and "<script " in body


# Home ---------------------------------------------------------------------------------------------
def test_home_admin_shows_cards(admin_client, world):
    body = admin_client.get("/").content.decode()
    assert "Recetas pendientes" in body and "Stock bajo" in body and "Compras de hoy" in body
    assert "Ibuprofeno 400mg" in body  # the low-stock product


def test_home_survives_products_service_down(admin_client, world, mocked):
    world(products_down=True)
    mocked.upsert("GET", f"{PRODUCTS}/api/productos/stock-bajo", status=503, body="down")
    response = admin_client.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "productos" in body and "Recetas pendientes" in body


def test_home_cliente_shows_latest_purchases(client_client, world):
    body = client_client.get("/").content.decode()
    assert "Mis últimas compras" in body and "Stock bajo" not in body


# Purchases -------------------------------------------------------------------------------------------
def test_purchase_list_paginates_25(admin_client, world):
    body = admin_client.get("/compras").content.decode()
    assert body.count('class="purchase"') == 25
    assert "página 1 de 2" in body


def test_purchase_list_second_page(admin_client, world):
    body = admin_client.get("/compras?page=2").content.decode()
    assert body.count('class="purchase"') == 5


def test_purchase_list_newest_first_by_default(admin_client, world):
    body = admin_client.get("/compras").content.decode()
    assert body.index('id="compra-30"') < body.index('id="compra-29"')


def test_purchase_list_sorts_by_total(admin_client, world):
    body = admin_client.get("/compras?orden=-total").content.decode()
    # Every third purchase has the amoxicillin line: S/ 19.90 against S/ 3.50.
    assert body.index('id="compra-30"') < body.index('id="compra-29"')
    assert body.index('id="compra-3"') < body.index('id="compra-28"')


def test_purchase_list_summary_of_filtered_set(admin_client, world):
    body = admin_client.get("/compras?desde=2025-09-01&hasta=2025-09-06").content.decode()
    # 6 purchases: 4 x S/ 3.50 + 2 x (2 x 3.50 + 12.90) = 14.00 + 39.80
    assert 'data-testid="resumen-compras">6<' in body
    assert "S/ 53.80" in body


def test_purchase_list_filters_by_product_name(admin_client, world, mocked):
    body = admin_client.get("/compras?producto=amoxi").content.decode()
    assert body.count('class="purchase"') == 10
    # matched here against the catalogue, whatever the service's collation
    assert [c for c in mocked.calls if c.request.path_url.startswith("/api/productos/paged")]


@pytest.mark.parametrize("typed", ["AMOXÍCILINA", "  amoxicilina   500 mg", "Amóxi"])
def test_purchase_list_product_filter_ignores_case_accents_and_spaces(admin_client, world, mocked, typed):
    body = admin_client.get("/compras", {"producto": typed}).content.decode()
    assert body.count('class="purchase"') == 10


def test_purchase_list_product_filter_finds_nothing_for_another_name(admin_client, world, mocked):
    body = admin_client.get("/compras", {"producto": "ibuprofeno 600"}).content.decode()
    assert body.count('class="purchase"') == 0


def test_purchase_list_filters_by_product_id(admin_client, world, mocked):
    body = admin_client.get("/compras?producto=3").content.decode()
    assert body.count('class="purchase"') == 10
    assert not [c for c in mocked.calls if "/api/productos/nombre" in c.request.url]


def test_purchase_list_invalid_filter_keeps_values(admin_client, world):
    response = admin_client.get("/compras?desde=2025-09-10&hasta=2025-09-01&producto=ibu")
    body = response.content.decode()
    assert "no puede ser anterior" in body and 'value="ibu"' in body


def test_purchase_list_invalid_filter_htmx_answers_422(admin_client, world):
    response = admin_client.get("/compras?desde=2025-09-10&hasta=2025-09-01", HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and 'id="purchase-table"' in response.content.decode()


def test_purchase_list_products_down_shows_banner(admin_client, world):
    world(products_down=True)
    response = admin_client.get("/compras")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Servicio de productos no disponible" in body
    assert "Producto 1: no disponible" not in body  # rows are collapsed; lines show on expansion


def test_purchase_list_users_down_renders_page_with_banner(admin_client, world):
    world(users_down=True)
    response = admin_client.get("/compras")
    body = response.content.decode()
    assert response.status_code == 200
    assert "usuarios" in body and "No se pudieron cargar las compras" in body


def test_purchase_detail_products_down_names_the_service(admin_client, world):
    world(products_down=True)
    response = admin_client.get("/compras/1")
    assert response.status_code == 200
    assert "Servicio de productos no disponible: detalles incompletos" in response.content.decode()


def test_purchase_detail_users_down_htmx_gets_alert_in_alerts(admin_client, world):
    world(users_down=True)
    response = admin_client.get("/compras/3", HTTP_HX_REQUEST="true")
    assert response.status_code == 502
    assert response["HX-Retarget"] == "#alerts"
    assert "usuarios" in response.content.decode()


def test_purchase_expanded_row_shows_lines(admin_client, world):
    body = admin_client.get("/compras/3", HTTP_HX_REQUEST="true").content.decode()
    assert "Amoxicilina 500mg" in body and "S/ 12.90" in body and 'aria-expanded="true"' in body


def test_purchase_collapsed_row_has_no_lines(admin_client, world):
    body = admin_client.get("/compras/3/fila", HTTP_HX_REQUEST="true").content.decode()
    assert "lines-row" not in body and 'aria-expanded="false"' in body


def test_purchase_detail_unavailable_product_is_marked(admin_client, world, mocked):
    mocked.upsert("GET", f"{PRODUCTS}/api/productos/3", status=404, json={"detail": "Producto no encontrado"})
    body = admin_client.get("/compras/3").content.decode()
    assert "Producto 3: no disponible" in body


def test_purchase_detail_unknown_is_404(admin_client, world):
    assert admin_client.get("/compras/999").status_code == 404


def test_purchase_export_one_row_per_line(admin_client, world):
    response = admin_client.get("/compras/export.csv?desde=2025-09-01&hasta=2025-09-03")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["compra_id", "fecha", "usuario_id"]
    assert len(rows) == 1 + 4  # purchases 1, 2 (one line each) and 3 (two lines)


def test_purchase_export_neutralises_formulas(admin_client, world, mocked):
    from tests.payloads import product_payload
    mocked.upsert("GET", f"{PRODUCTS}/api/productos/1", json=product_payload(1, nombre="=HYPERLINK(1)"))
    body = admin_client.get("/compras/export.csv?hasta=2025-09-01").content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in body


# Prescriptions --------------------------------------------------------------------------------------
def test_prescription_list_defaults_to_pending(admin_client, world, mocked):
    body = admin_client.get("/recetas").content.decode()
    assert "estado=pendiente" in mocked.calls[-1].request.url
    assert f'id="receta-{VALID_RX}"' in body


def test_prescription_list_todas_sends_no_state(admin_client, world, mocked):
    admin_client.get("/recetas?estado=todas")
    assert "estado=" not in mocked.calls[-1].request.url.split("?", 1)[1]


def test_prescription_list_upstream_down_shows_banner(admin_client, world, mocked):
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/filter", status=500, body="boom")
    response = admin_client.get("/recetas")
    assert response.status_code == 200 and "recetas" in response.content.decode()


def test_prescription_detail_shows_failed_check(admin_client, world):
    body = admin_client.get(f"/recetas/{INVALID_RX}").content.decode()
    assert "no tiene colegiatura válida" in body and "check-fail" in body


def test_prescription_detail_products_down_still_renders_with_banner(admin_client, world):
    world(products_down=True)
    response = admin_client.get(f"/recetas/{VALID_RX}")
    body = response.content.decode()
    assert response.status_code == 200
    assert "No se pudo verificar: El servicio de productos respondió con un error" in body
    assert body.count("El servicio de productos respondió con un error") >= 2  # the check and the banner
    assert VALID_RX in body  # the prescription's own facts are still shown


def test_prescription_detail_malformed_id_is_404(admin_client, world):
    assert admin_client.get("/recetas/not-an-id").status_code == 404


def _puts(mocked):
    """Writes of a prescription's state (the generation probe is not one: it never writes)."""
    return [c for c in mocked.calls if c.request.method == "PUT" and PROBE_ID not in c.request.url]


def test_set_state_validates_and_swaps_in_place(admin_client, world, mocked):
    response = admin_client.post(f"/recetas/{VALID_RX}/estado", {"estado": "VALIDADA"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="prescription-review"' in body and "Receta validada" in body
    assert 'id="prescription-state" hx-swap-oob="true"' in body
    assert re.search(r'<aside id="pending-sidebar"[^>]*hx-swap-oob="true"', body)  # the queue updates itself
    assert b'"estadoValidacion": "validada"' in _puts(mocked)[0].request.body


def test_set_state_invalid_answers_422_and_writes_nothing(admin_client, world, mocked):
    response = admin_client.post(f"/recetas/{INVALID_RX}/estado", {"estado": "VALIDADA"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 422
    assert "La receta no superó la validación" in body and "no tiene colegiatura válida" in body
    assert not _puts(mocked)


def test_set_state_reject_with_reason(admin_client, world, mocked):
    response = admin_client.post(f"/recetas/{INVALID_RX}/estado", {"estado": "RECHAZADA", "motivo": "Ilegible"},
                                 HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Motivo: Ilegible" in response.content.decode()
    assert b'"estadoValidacion": "rechazada"' in _puts(mocked)[0].request.body


def test_set_state_plain_post_redirects_with_message(admin_client, world, mocked):
    response = admin_client.post(f"/recetas/{VALID_RX}/estado", {"estado": "PENDIENTE"})
    assert response.status_code == 302 and response["Location"] == f"/recetas/{VALID_RX}"
    assert "volvió a pendiente" in admin_client.get(response["Location"]).content.decode()


def test_set_state_unknown_state_is_400(admin_client, world, mocked):
    response = admin_client.post(f"/recetas/{VALID_RX}/estado", {"estado": "BORRADA"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and response["HX-Retarget"] == "#alerts"
    assert not _puts(mocked)


def _csrf_signed_in_admin(mocked):
    """A client that enforces CSRF, signed in as ADMIN through the login form (with its token)."""
    from django.test import Client

    from tests.conftest import USERS
    from tests.payloads import user_payload
    from tests.views.conftest import make_token
    client = Client(enforce_csrf_checks=True)
    token = str(client.get("/login").context["csrf_token"])
    mocked.upsert("POST", f"{USERS}/api/auth/login", json={"token": make_token("40123456", "ADMIN")})
    mocked.upsert("GET", f"{USERS}/api/user/me", json=user_payload(dni="40123456", role="ADMIN"))
    assert client.post("/login", {"identificador": "40123456", "password": "x",
                                  "csrfmiddlewaretoken": token}).status_code == 302
    return client


def test_set_state_enforces_csrf(mocked, world):
    client = _csrf_signed_in_admin(mocked)
    response = client.post(f"/recetas/{VALID_RX}/estado", {"estado": "VALIDADA"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert not _puts(mocked)


def test_set_state_accepts_the_csrf_header_htmx_sends(mocked, world):
    client = _csrf_signed_in_admin(mocked)
    page_token = str(client.get(f"/recetas/{VALID_RX}").context["csrf_token"])
    response = client.post(f"/recetas/{VALID_RX}/estado", {"estado": "VALIDADA"}, HTTP_HX_REQUEST="true",
                           HTTP_X_CSRFTOKEN=page_token)
    assert response.status_code == 200


# Status -------------------------------------------------------------------------------------------
def test_status_page_lists_upstreams(admin_client, world):
    body = admin_client.get("/estado").content.decode()
    assert body.count("en línea") >= 3 and "productos_y_ofertas" in body
    assert body.count("cerrado") == 3  # the circuit breakers


def test_status_light_shows_down_service(admin_client, world, mocked):
    import requests
    mocked.upsert("GET", f"{PRODUCTS}/echo", body=requests.exceptions.ConnectionError())
    body = admin_client.get("/estado/luz", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-servicio="productos_y_ofertas" data-estado="down"' in body
    assert 'hx-trigger="every 30s"' in body


@pytest.mark.parametrize("url", ["/", "/compras", "/compras/3", "/recetas", f"/recetas/{VALID_RX}", "/estado"])
def test_page_never_renders_the_token(admin_client, world, url):
    token = admin_client.session["token"]
    assert token not in admin_client.get(url).content.decode()


def test_base_links_a_favicon(admin_client, world):
    # Without one the browser asks for /favicon.ico on every page and logs a 404.
    assert 'rel="icon" href="/static/dashboard/favicon.svg"' in admin_client.get("/").content.decode()


def test_purchase_list_product_filter_falls_back_to_the_service_search_on_a_huge_catalogue(admin_client, world,
                                                                                             mocked):
    from tests.payloads import page, product_payload

    mocked.upsert("GET", f"{PRODUCTS}/api/productos/paged",
                  json=page([product_payload(1)], key="productos", size=500, total=500 * 21))
    body = admin_client.get("/compras?producto=amoxi").content.decode()
    assert body.count('class="purchase"') == 10
    assert [c for c in mocked.calls if c.request.path_url.startswith("/api/productos/nombre")]
    assert len([c for c in mocked.calls if c.request.path_url.startswith("/api/productos/paged")]) == 1
