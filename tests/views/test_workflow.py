"""The dashboard as staff work in it: the FIFO queue, names, unknown shown as unknown, the history."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import (
    doctor_payload,
    page,
    prescription_payload,
    product_payload,
    purchase_payload,
    user_payload,
)
from tests.views.conftest import ADMIN_DNI, BAD_DOCTOR, CLIENT_DNI, INVALID_RX, VALID_RX

OLD_RX, NEW_RX = "a" * 24, "b" * 24


def filter_calls(mocked) -> list[dict]:
    return [parse_qs(urlsplit(c.request.url).query) for c in mocked.calls if "/api/recetas/filter" in c.request.url]


def with_created(rid: str, created: str, **kw) -> dict:
    return {**prescription_payload(rid, **kw), "createdAt": created}


# Unknown is shown as unknown ----------------------------------------------------------------------
def test_purchase_list_products_down_shows_dash_never_zero(admin_client, world):
    world(products_down=True)
    body = admin_client.get("/compras").content.decode()
    assert "S/ 0.00" not in body
    assert "no se pudieron leer los precios" in body
    assert "(no se pudo leer)" in body and "(no disponible)" not in body  # the top products
    assert re.search(r'class="unknown">—', body)


def test_purchase_lines_products_down_say_could_not_read(admin_client, world):
    world(products_down=True)
    body = admin_client.get("/compras/1", HTTP_HX_REQUEST="true").content.decode()
    assert "no se pudo leer del catálogo" in body and "no disponible" not in body.split("</thead>")[1]


def test_purchase_listing_labels_current_catalogue_prices(admin_client, world):
    body = admin_client.get("/compras/3").content.decode()
    assert "Precio unitario actual" in body and "Total a precios actuales" in body
    assert "no guarda lo cobrado" in body


def test_purchase_csv_money_has_two_decimals(admin_client, world):
    rows = list(csv.reader(io.StringIO(admin_client.get("/compras/export.csv").content.decode("utf-8-sig"))))
    header, first = rows[0], rows[1]
    assert header[7] == "precio_unitario_catalogo_actual"
    assert first[7] == "3.50" and re.fullmatch(r"\d+\.\d\d", first[8])
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", first[1])  # Peruvian day/month/year


def test_checklist_products_unreadable_says_could_not_verify_not_missing(admin_client, world):
    world(products_down=True)
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "no se pudo verificar" in body and "No se pudo verificar el producto con ID 3" in body
    assert "no existe" not in body
    assert "check-unknown" in body


# The queue ------------------------------------------------------------------------------------------
def test_pending_queue_is_oldest_first(admin_client, world, mocked):
    newest_first = [with_created(NEW_RX, "2025-10-22T10:00:00.000Z"), with_created(OLD_RX, "2025-10-20T10:00:00.000Z")]
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/filter", json=page(newest_first, size=100))
    body = admin_client.get("/recetas?estado=pendiente").content.decode()
    assert body.index(f"receta-{OLD_RX}") < body.index(f"receta-{NEW_RX}")
    assert "las más antiguas primero" in body


def test_state_tabs_show_counts(admin_client, world, mocked):
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/filter", json=page([], total=7, size=1))
    body = admin_client.get("/recetas?estado=validada").content.decode()
    counts = re.findall(r'<span class="count"[^>]*>(\d+)</span>', body)
    assert counts == ["7", "7", "7", "21"]
    states = sorted(q.get("estado", [""])[0] for q in filter_calls(mocked) if q.get("pagesize") == ["1"])
    assert states == ["pendiente", "rechazada", "validada"]


def test_queue_poll_counts_new_pending(admin_client, world, mocked):
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/filter", json=page([
        with_created(NEW_RX, "2025-10-22T10:00:00.000Z"), with_created(OLD_RX, "2025-10-20T10:00:00.000Z")]))
    body = admin_client.get("/recetas/nuevas?desde=2025-10-21T00:00:00.000Z", HTTP_HX_REQUEST="true").content.decode()
    assert "1 receta nueva pendiente" in body
    assert admin_client.get("/recetas/nuevas?desde=2025-10-23T00:00:00.000Z").content.decode().strip() == ""
    queue = admin_client.get("/recetas").content.decode()
    assert 'hx-get="/recetas/nuevas?desde=2025-10-22T10%3A00%3A00.000Z"' in queue and "every 30s" in queue


def test_validar_disabled_with_reason_while_a_check_fails(admin_client, world):
    body = admin_client.get(f"/recetas/{INVALID_RX}").content.decode()
    button = re.search(r'<button[^>]*id="accion-validar"[^>]*>', body).group(0)
    assert "disabled" in button and 'aria-describedby="validar-bloqueo"' in button
    reason = body[body.index('id="validar-bloqueo"'):]
    assert "no tiene colegiatura válida" in reason[:600]


def test_validar_enabled_when_every_check_passes(admin_client, world):
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    button = re.search(r'<button[^>]*id="accion-validar"[^>]*>', body).group(0)
    assert "disabled" not in button and 'id="validar-bloqueo"' not in body


def test_after_a_decision_offers_the_next_prescription(admin_client, world):
    body = admin_client.post(f"/recetas/{VALID_RX}/estado", {"estado": "RECHAZADA"},
                             HTTP_HX_REQUEST="true").content.decode()
    assert re.search(rf'<a id="siguiente-receta"[^>]*href="/recetas/{INVALID_RX}"[^>]*data-autofocus', body)
    assert "Siguiente receta" in body


def test_prescription_page_frames_the_pdf_with_a_csp_for_its_origin(admin_client, world):
    response = admin_client.get(f"/recetas/{VALID_RX}")
    body = response.content.decode()
    assert '<iframe src="https://example.com/recetas/x.pdf"' in body
    csp = response["Content-Security-Policy"]
    assert "frame-src https://example.com" in csp and "object-src https://example.com" in csp
    assert "'none'" not in csp.split("object-src")[1].split(";")[0]
    assert "script-src 'self'" in csp


def test_prescription_page_never_frames_a_non_http_pdf(admin_client, world, mocked):
    odd = {**prescription_payload(VALID_RX, productos=[(3, "Amoxicilina 500mg", 1)]),
           "archivoPDF": "javascript:alert(1)", "pdfUrl": None}
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", json=odd)
    response = admin_client.get(f"/recetas/{VALID_RX}")
    assert "<iframe" not in response.content.decode() and "javascript:" not in response.content.decode()
    assert "object-src 'none'" in response["Content-Security-Policy"]
    assert "frame-src" not in response["Content-Security-Policy"]


def test_sidebar_refreshes_itself(admin_client, world):
    body = admin_client.get(f"/recetas/{VALID_RX}/cola", HTTP_HX_REQUEST="true").content.decode()
    assert body.startswith("\n<aside id=\"pending-sidebar\"") or '<aside id="pending-sidebar"' in body
    assert 'hx-trigger="every 30s"' in body and "2 recetas por revisar" in body


# Names -----------------------------------------------------------------------------------------------
def test_queue_rows_show_patient_and_doctor_names_beside_codes(admin_client, world):
    body = admin_client.get("/recetas").content.decode()
    assert "Ana Quispe" in body and f"DNI {CLIENT_DNI}" in body
    assert "Dr. Lorena Chávez" in body and '<span class="muted mono">CMP100001</span>' in body


def test_names_are_read_once_and_cached(admin_client, world, mocked):
    admin_client.get("/recetas")
    admin_client.get("/recetas?estado=todas")
    users_calls = [c for c in mocked.calls if c.request.url.endswith("/api/user/all")]
    assert len(users_calls) == 1


def test_search_patient_by_name_filters_by_their_dni(admin_client, world, mocked):
    mocked.upsert("GET", f"{USERS}/api/user/all", json=[user_payload(CLIENT_DNI, nombre="Ana", apellido="Quispe"),
                                                        user_payload(ADMIN_DNI, role="ADMIN", nombre="Rosa",
                                                                     apellido="Huamán")])
    response = admin_client.get("/recetas?estado=todas&dni=ana quispe")
    assert response.status_code == 200
    assert any(q.get("dni") == [CLIENT_DNI] for q in filter_calls(mocked))


def test_search_by_ambiguous_name_is_a_field_error_with_and_without_htmx(admin_client, world):
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        body = admin_client.get("/recetas?estado=todas&dni=Quispe", **headers).content.decode()
        assert "2 personas coinciden" in body and 'class="errorlist"' in body


def test_search_doctor_by_name(admin_client, world, mocked):
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/medicos/filter", json=page(
        [doctor_payload("CMP100001", nombre="Dra. Lorena Chávez"), doctor_payload(BAD_DOCTOR, nombre="Dr. Luis Paz")],
        size_key="limit"))
    admin_client.get("/recetas?estado=todas&cmp=lorena chavez")
    assert any(q.get("cmp") == ["CMP100001"] for q in filter_calls(mocked))


def test_buyer_unknown_is_cliente_number_then_named_once_learnt(admin_client, client, world, mocked):
    body = admin_client.get("/compras/3").content.decode()
    assert "Cliente #3" in body
    from dashboard.services.buyers import remember_buyer_number

    remember_buyer_number(CLIENT_DNI, 3)
    body = admin_client.get("/compras/3").content.decode()
    assert "Ana Quispe" in body and f"DNI {CLIENT_DNI}" in body


def own_purchases(mocked) -> None:
    """The customer's own list: every purchase carries their one internal id."""
    mocked.upsert("GET", f"{USERS}/api/compras/me", json=[
        purchase_payload(n, productos=[1], cantidades=[1], fecha=f"2025-09-{n:02d}T10:00:00", usuario_id=2)
        for n in range(1, 5)])


def test_customer_listing_teaches_the_buyer_ids(client_client, world, mocked):
    from dashboard.services.buyers import known_buyer_dnis

    own_purchases(mocked)
    client_client.get("/compras")
    assert known_buyer_dnis([2, 3]) == {2: CLIENT_DNI}


def test_purchase_filter_by_buyer_name(admin_client, world):
    from dashboard.services.buyers import remember_buyer_number

    remember_buyer_number(CLIENT_DNI, 2)
    body = admin_client.get("/compras?usuario_id=" + CLIENT_DNI).content.decode()
    assert "15 compras" in body  # the 15 purchases of buyer 2, none of buyer 3


# Field errors and filters --------------------------------------------------------------------------
def test_inverted_dates_show_the_field_message_with_and_without_htmx(admin_client, world):
    url = "/compras?desde=2025-10-10&hasta=2025-10-01"
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        body = admin_client.get(url, **headers).content.decode()
        assert "La fecha final no puede ser anterior a la inicial." in body
        assert "Revise los filtros" not in body
        assert 'value="2025-10-10"' in body  # the form keeps what was typed


def test_htmx_actions_declare_indicator_and_disable_their_control(admin_client, world):
    for url in ("/compras", "/recetas", f"/recetas/{VALID_RX}", "/recetas/historial"):
        body = admin_client.get(url).content.decode()
        for form in re.findall(r"<form[^>]*hx-(?:get|post)[^>]*>", body):
            assert "hx-indicator=" in form and "hx-disabled-elt=" in form, (url, form)
        for link in re.findall(r"<a\s[^>]*hx-get[^>]*>", body):
            assert "hx-indicator=" in link and "hx-sync=" in link, (url, link)  # no double requests


# Decision history -------------------------------------------------------------------------------------
def test_decision_shown_on_the_prescription_page_with_reason(admin_client, world):
    admin_client.post(f"/recetas/{INVALID_RX}/estado", {"estado": "RECHAZADA", "motivo": "Firma ilegible"})
    body = admin_client.get(f"/recetas/{INVALID_RX}").content.decode()
    history = body[body.index('id="decision-history"'):]
    assert "Rechazada" in history and "Firma ilegible" in history and "Rosa Huamán" in history


def test_decision_history_page_filters_and_exports(admin_client, world, settings):
    admin_client.post(f"/recetas/{INVALID_RX}/estado", {"estado": "RECHAZADA", "motivo": "=cmd"})
    admin_client.post(f"/recetas/{VALID_RX}/estado", {"estado": "VALIDADA"})
    [entry] = [json.loads(x) for x in Path(settings.DECISION_AUDIT_LOG).read_text().splitlines()
               if json.loads(x)["estado"] == "validada"]
    assert entry["origen"] == "panel"
    body = admin_client.get("/recetas/historial?estado=rechazada").content.decode()
    assert "1 decisión" in body and INVALID_RX[-6:] in body and VALID_RX[-6:] not in body
    rows = list(csv.reader(io.StringIO(admin_client.get("/recetas/historial.csv").content.decode("utf-8-sig"))))
    assert rows[0][0] == "fecha" and len(rows) == 3
    assert "'=cmd" in [cell for row in rows for cell in row]  # no formula injection


def test_decision_history_inverted_dates_is_a_field_error(admin_client, world):
    response = admin_client.get("/recetas/historial?desde=2025-10-10&hasta=2025-10-01", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "La fecha final no puede ser anterior a la inicial." in response.content.decode()


def test_decision_history_is_admin_only(client_client, world):
    assert client_client.get("/recetas/historial").status_code == 403
    assert client_client.get("/recetas/historial.csv").status_code == 403


def test_customer_does_not_see_the_history_nor_staff_names(client_client, world):
    body = client_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert 'id="decision-history"' not in body and 'id="pending-sidebar"' not in body


# Words ------------------------------------------------------------------------------------------------
def test_plural_of_failed_products_agrees_with_the_total(admin_client, world, mocked):
    two = prescription_payload(INVALID_RX, productos=[(3, "Amoxicilina 500mg", 1), (4, "Otro nombre", 1)])
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{INVALID_RX}", json=two)
    mocked.upsert("GET", f"{PRODUCTS}/api/productos/4", json=product_payload(4, nombre="Amoxicilina Jarabe"))
    body = admin_client.get(f"/recetas/{INVALID_RX}").content.decode()
    assert "1 de 2 productos no superó la verificación" in body


def test_sign_out_message_reads_naturally(admin_client, world):
    response = admin_client.post("/logout", follow=True)
    assert "Sesión cerrada." in response.content.decode()


def test_api_docs_constraints_agree_in_number_and_types_are_spanish():
    from dashboard.views.apidocs import _constraints, _type_text

    assert _constraints({"minLength": 1, "maxLength": 500}) == "mín. 1 carácter; máx. 500 caracteres"
    assert _type_text({"type": "array", "items": {"type": "integer"}}, {}) == "lista de entero"
    assert _type_text({"type": ["string", "null"]}, {}) == "texto | nulo"


def test_api_docs_say_which_amounts_were_charged(admin_client, world):
    body = admin_client.get("/api").content.decode()
    assert "lo cobrado por unidad" in body and "a precios actuales del catálogo" in body


def test_customer_home_teaches_the_buyer_ids(client_client, world, mocked):
    from dashboard.services.buyers import known_buyer_dnis

    own_purchases(mocked)
    client_client.get("/")
    assert known_buyer_dnis([2]) == {2: CLIENT_DNI}


def test_audit_unreadable_history_is_said_not_shown_empty(admin_client, world, settings, tmp_path):
    settings.DECISION_AUDIT_LOG = str(tmp_path)  # a directory: reading it fails
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "No se pudo leer el historial" in body and "Aún no hay decisiones" not in body
    assert "No se pudo leer el historial" in admin_client.get("/recetas/historial").content.decode()
    assert admin_client.get("/recetas/historial.csv").status_code == 503


def test_api_docs_name_parameter_places_in_spanish(admin_client, world):
    body = admin_client.get("/api").content.decode()
    assert ">consulta</td>" in body and ">ruta</td>" in body and ">query</td>" not in body


def test_customer_home_products_down_never_shows_zero(client_client, world):
    world(products_down=True)
    body = client_client.get("/").content.decode()
    assert "S/ 0.00" not in body and "precio desconocido" in body
