"""End to end against the sandbox in each mode of the real deployments: the newest prescriptions
generation (no estado route, OCR `validar`, no S3), slow writes, doctors sorted by name, prescriptions
used up, exact e-mails, UTC naive times and the accent-insensitive product filter."""
from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import pytest
import requests

from dashboard.clients import upstreams_for
from dashboard.clients.prescriptions import PROBE_ID
from dashboard.services import prescriptions as rx_service
from sandbox import DEMO_LOGINS
from tests.integration.test_prescriptions import ADMIN_DNI, CUSTOMER_DNI, add_prescription, approve, state

pytestmark = pytest.mark.integration

LIMA = ZoneInfo("America/Lima")
ANA = next(login for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
ADMIN = next(login for login in DEMO_LOGINS if login["rol"] == "ADMIN")
PDF = b"%PDF-1.4\n%%EOF\n"


def put_state(client, sb, rid: str, estado: str, **extra):
    return client.put(f"/api/orchestrator/recetas/estado/{rid}", data=json.dumps({"estadovalidacion": estado, **extra}),
                      content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {sb.token_for(ADMIN_DNI)}")


def writes(sb) -> list[str]:
    return [path for method, path in sb.requests("recetas") if method == "PUT" and PROBE_ID not in path]


def sign_in(client, ident: str, password: str):
    return client.post("/login", {"identificador": ident, "password": password})


# The newest prescriptions generation -------------------------------------------------------------
def test_newest_generation_cannot_reject_501_and_nothing_changes(client, sandbox):
    sandbox.generation = "nueva"
    receta = add_prescription(sandbox)
    response = put_state(client, sandbox, receta["_id"], "RECHAZADA", motivo="Ilegible")
    assert response.status_code == 501
    assert response.json()["details"]["ruta"] == "PUT /api/recetas/estado/{id}"
    assert put_state(client, sandbox, receta["_id"], "PENDIENTE").status_code == 501
    assert state(sandbox, receta["_id"]) == "pendiente"
    assert writes(sandbox) == [f"/api/recetas/estado/{receta['_id']}"]  # learnt from the first answer


def test_newest_generation_approval_reports_what_the_ocr_rewrote(client, sandbox):
    sandbox.generation = "nueva"
    receta = add_prescription(sandbox)
    response = approve(client, sandbox, receta["_id"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cambios"]["productos"]["despues"][0]["nombre"] == receta["productos"][0]["nombre"].upper()
    assert body["validaciones"]["productos_validados"] == 1 and "advertencias" not in body
    assert state(sandbox, receta["_id"]) == "validada"


def test_newest_generation_approval_warns_when_the_stored_data_now_fails(client, sandbox):
    sandbox.generation = "nueva"
    receta = add_prescription(sandbox)
    sandbox.prescriptions.set_ocr(receta["_id"], pacienteDNI="99999999")  # misread: nobody has that DNI
    response = approve(client, sandbox, receta["_id"])
    assert response.status_code == 200  # it was written: never an error now
    body = response.json()
    assert body["cambios"]["pacienteDNI"] == {"antes": CUSTOMER_DNI, "despues": "99999999"}
    assert body["validaciones"]["paciente_valido"] is False
    assert "99999999" in body["advertencias"][0]
    assert sandbox.prescriptions.get(receta["_id"])["pacienteDNI"] == "99999999"


def test_newest_generation_refusal_is_400_with_its_reason(client, sandbox):
    sandbox.generation = "nueva"
    receta = add_prescription(sandbox)
    sandbox.prescriptions.set_ocr(receta["_id"], medicoCMP=None)
    response = approve(client, sandbox, receta["_id"])
    assert response.status_code == 400
    assert response.json()["details"]["motivo"] == "PDF incompleto o inválido"
    assert state(sandbox, receta["_id"]) == "pendiente"


def test_newest_generation_without_s3_is_502_with_its_text(client, sandbox):
    sandbox.generation = "nueva"
    sandbox.validar_without_s3 = True
    receta = add_prescription(sandbox)
    response = approve(client, sandbox, receta["_id"], route="validar")
    assert response.status_code == 502
    assert "Missing required key 'Bucket' in params" in response.json()["details"]["detalle"]
    assert state(sandbox, receta["_id"]) == "pendiente"


def test_an_uploaded_prescription_is_approved_through_the_ocr(client, sandbox):
    sandbox.generation = "nueva"
    doctor = sorted(d["cmp"] for d in sandbox.prescriptions.doctors() if d["colegiaturaValida"])[0]
    uploaded = requests.post(f"{sandbox.urls['recetas']}/api/recetas/upload", timeout=5,
                             files={"archivo": ("receta.pdf", PDF, "application/pdf")},
                             data={"pacienteDNI": CUSTOMER_DNI, "medicoCMP": doctor,
                                   "fechaEmision": (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat(),
                                   "productos": json.dumps([{"id": 40, "nombre": "Amoxicilina 500mg",
                                                             "cantidad": 1}])}).json()["receta"]
    response = approve(client, sandbox, uploaded["_id"], route="validar")
    assert response.status_code == 200, response.content
    assert state(sandbox, uploaded["_id"]) == "validada"


# Writes whose outcome is unknown --------------------------------------------------------------------
def test_a_write_that_times_out_is_uncertain_and_lands(client, sandbox, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.3
    sandbox.slow_writes_seconds = 0.8
    receta = add_prescription(sandbox)
    response = put_state(client, sandbox, receta["_id"], "RECHAZADA")
    assert response.status_code == 504
    assert response.json()["details"]["code"] == "resultado_incierto"
    deadline = time.monotonic() + 5
    while state(sandbox, receta["_id"]) != "rechazada" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(sandbox, receta["_id"]) == "rechazada"  # it had happened: "failed" would have been a lie


def test_dashboard_says_an_uncertain_write_may_have_been_applied(client, sandbox, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.3
    sandbox.slow_writes_seconds = 0.8
    receta = add_prescription(sandbox)
    assert sign_in(client, ADMIN["dni"], ADMIN["password"]).status_code == 302
    response = client.post(f"/recetas/{receta['_id']}/estado", {"estado": "RECHAZADA"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 504
    assert "puede haberse aplicado" in body and "data-incierto" in body


def test_dashboard_on_the_newest_generation_offers_no_reject_and_estado_names_it(client, sandbox):
    sandbox.generation = "nueva"
    receta = add_prescription(sandbox)
    assert sign_in(client, ADMIN["dni"], ADMIN["password"]).status_code == 302
    page = client.get(f"/recetas/{receta['_id']}").content.decode()
    assert "Rechazar…" not in page and "Volver a pendiente" not in page and "data-sin-ruta-estado" in page
    assert 'data-generacion="nueva"' in client.get("/estado").content.decode()
    assert state(sandbox, receta["_id"]) == "pendiente"


def test_dashboard_on_the_older_generation_offers_reject(client, sandbox):
    receta = add_prescription(sandbox)
    assert sign_in(client, ADMIN["dni"], ADMIN["password"]).status_code == 302
    assert "Rechazar…" in client.get(f"/recetas/{receta['_id']}").content.decode()
    assert 'data-generacion="anterior"' in client.get("/estado").content.decode()


# Doctors sorted by a non-unique name ----------------------------------------------------------------
def test_every_registered_doctor_is_found_when_the_filter_ignores_cmp(sandbox, settings):
    settings.URL_RECETAS_MEDICOS = sandbox.urls["recetas"]
    sandbox.doctors_filter_ignores_cmp = True
    upstreams = upstreams_for(None)
    doctors = sandbox.prescriptions.doctors()
    for doctor in doctors:
        found = rx_service._doctor_find(upstreams, doctor["cmp"])
        assert found is not None and found.cmp == doctor["cmp"]
    assert rx_service._doctor_find(upstreams, "CMP999999") is None
    # bounded: one `cmp=` call per lookup, and the registry (2 pages of 100) read a few times at most
    calls = [p for _, p in sandbox.requests("recetas") if p == "/api/medicos/filter"]
    assert len(calls) <= len(doctors) + 1 + 2 * rx_service.REGISTRY_MAX_PASSES * 2


def add_namesakes(sb, count: int = 30) -> None:
    """Doctors sharing the name sorted around position 100, so a tie straddles the page boundary."""
    names = sorted(d["nombre"] for d in sb.prescriptions.doctors())
    specialties = sorted({d["especialidad"] for d in sb.prescriptions.doctors()})
    for n in range(count):
        sb.prescriptions.add_doctor(f"CMP9{n:05d}", names[95], specialties[n % len(specialties)])


def test_naive_paging_skips_namesakes_but_every_doctor_is_found(sandbox, settings):
    settings.URL_RECETAS_MEDICOS = sandbox.urls["recetas"]
    sandbox.doctors_filter_ignores_cmp = True
    add_namesakes(sandbox)
    doctors = sandbox.prescriptions.doctors()
    url = sandbox.urls["recetas"] + "/api/medicos/filter"
    skipped_once = False
    for _ in range(20):  # the problem: paging a sort on the non-unique `nombre`
        seen = {d["cmp"] for page in (1, 2) for d in requests.get(url, params={"page": page, "limit": 100},
                                                                  timeout=5).json()["items"]}
        skipped_once = skipped_once or len(seen) < len(doctors)
    assert skipped_once
    upstreams = upstreams_for(None)
    for doctor in doctors:  # the fix: none is ever called unregistered
        found = rx_service._doctor_find(upstreams, doctor["cmp"])
        assert found is not None and found.cmp == doctor["cmp"]


# Prescriptions are used up ------------------------------------------------------------------------------
def buy(client, sb, product: int, cantidad: int):
    return client.post("/api/orchestrator/compras", content_type="application/json",
                       data=json.dumps({"productos": [{"producto_id": product, "cantidad": cantidad}]}),
                       HTTP_AUTHORIZATION=f"Bearer {sb.token_for(CUSTOMER_DNI)}")


def test_a_five_unit_prescription_allows_five_units_in_all(client, sandbox):
    add_prescription(sandbox, productos=[{"id": 41, "nombre": sandbox.products.get(41)["nombre"], "cantidad": 5}],
                     estado="validada")
    assert buy(client, sandbox, 41, 3).status_code == 201
    assert buy(client, sandbox, 41, 2).status_code == 201
    refused = buy(client, sandbox, 41, 5)
    assert refused.status_code == 400
    assert refused.json()["details"]["unidades_disponibles"] == [{"producto_id": 41, "solicitado": 5,
                                                                 "disponible": 0}]


# E-mails as typed ------------------------------------------------------------------------------------
def test_dashboard_sign_in_sends_the_email_as_typed(client, sandbox):
    assert sign_in(client, ANA["email"].title(), ANA["password"]).status_code == 200  # no such e-mail upstream
    assert sign_in(client, f"  {ANA['email']} ", ANA["password"]).status_code == 302


def test_a_user_stored_with_capitals_signs_in_by_email(client, sandbox):
    sandbox.users.update(ANA["dni"], {"email": "Ana.Quispe@Example.com"})
    assert sign_in(client, "Ana.Quispe@Example.com", ANA["password"]).status_code == 302


# Times: UTC without an offset upstream, Lima on the API and the dashboard ------------------------------
def evening_purchase(sb, zone) -> tuple[dict, dt.date]:
    """A purchase at 21:30 Lima yesterday, stored as the service writes it in `zone`."""
    yesterday = dt.datetime.now(LIMA).date() - dt.timedelta(days=1)
    moment = dt.datetime.combine(yesterday, dt.time(21, 30), LIMA)
    purchase = sb.users.add_purchase(sb.users.internal_id(CUSTOMER_DNI), [1], [1],
                                     moment.astimezone(zone).replace(tzinfo=None))
    return purchase, yesterday


@pytest.mark.parametrize("zone_name", ["UTC", "America/Lima"])
def test_an_evening_purchase_stays_on_its_lima_day(client, sandbox, settings, zone_name):
    settings.UPSTREAM_TIMEZONE_USUARIOS = zone_name
    sandbox.upstream_timezone = zone_name
    purchase, day = evening_purchase(sandbox, ZoneInfo(zone_name))
    response = client.get(f"/api/orchestrator/compras/all?desde={day}&hasta={day}",
                          HTTP_AUTHORIZATION=f"Bearer {sandbox.token_for(ADMIN_DNI)}")
    found = [p for p in response.json()["compras"] if p["id"] == purchase["id"]]
    assert found and found[0]["fecha_compra"] == f"{day}T21:30:00-05:00"


# The product filter ------------------------------------------------------------------------------------
def test_dashboard_product_filter_ignores_accents(client, sandbox):
    assert sign_in(client, ADMIN["dni"], ADMIN["password"]).status_code == 302
    plain = client.get("/compras", {"producto": "acido folico"}).content.decode()
    accented = client.get("/compras", {"producto": "Ácido Fólico"}).content.decode()
    assert plain.count('class="purchase"') == accented.count('class="purchase"') > 0
