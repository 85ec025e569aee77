"""The sandbox's modes for the real deployments (newest prescriptions generation, UTC naive times, exact
e-mails, doctors sorted by name) and the routes the real web front-end calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .conftest import ANA_DNI

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def add(sb, *, days_ago=3, cmp="CMP100001"):
    return sb.prescriptions.add(paciente_dni=ANA_DNI, medico_cmp=cmp,
                                fecha_emision=datetime.now(UTC) - timedelta(days=days_ago),
                                productos=[{"id": 40, "nombre": "Amoxicilina 500mg", "cantidad": 1}])


def validar(http, url, rid):
    return http.put(f"{url}/api/recetas/{rid}/validar")


# Modes ---------------------------------------------------------------------------------------------
def test_newest_generation_preset_sets_its_switches_over_http(sb, http, prescriptions_url):
    response = http.post(f"{prescriptions_url}/__sandbox__/modes", json={"generation": "nueva"})
    assert response.status_code == 200
    modes = response.json()
    assert modes["generation"] == "nueva"
    assert modes["validar_route_only"] and modes["validar_ocr"] and modes["doctors_filter_ignores_cmp"]
    assert http.post(f"{prescriptions_url}/__sandbox__/modes", json={"nada": 1}).status_code == 400


def test_newest_generation_has_no_estado_route(sb, http, prescriptions_url):
    sb.generation = "nueva"
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{add(sb)['_id']}",
                        json={"estadoValidacion": "rechazada"})
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


def test_ocr_validar_overwrites_what_it_read(sb, http, prescriptions_url):
    sb.generation = "nueva"
    receta = add(sb)
    sb.prescriptions.set_ocr(receta["_id"], productos=[{"id": 40, "nombre": "AMOXICILINA 500 MG", "cantidad": 3}])
    response = validar(http, prescriptions_url, receta["_id"])
    assert response.status_code == 200
    body = response.json()
    assert body["mensaje"] == "Receta validada y actualizada correctamente"
    stored = body["receta"]
    assert stored["estadoValidacion"] == "validada"
    assert [(p["id"], p["nombre"], p["cantidad"]) for p in stored["productos"]] == [(40, "AMOXICILINA 500 MG", 3)]
    assert sb.prescriptions.get(receta["_id"])["productos"][0]["cantidad"] == 3


def test_ocr_validar_reads_names_in_capitals_by_default(sb, http, prescriptions_url):
    sb.validar_ocr = True
    receta = add(sb)
    stored = validar(http, prescriptions_url, receta["_id"]).json()["receta"]
    assert stored["productos"][0]["nombre"] == "AMOXICILINA 500MG"


@pytest.mark.parametrize(("reading", "error"), [
    ({"medicoCMP": None}, "PDF incompleto o inválido"),
    ({"productos": [{"id": "x", "nombre": "?", "cantidad": 1}]}, "Producto inválido en el PDF"),
    ({"medicoCMP": "CMP100007"}, "CMP no registrado o colegiatura no válida"),
    ({"medicoCMP": "CMP999999"}, "CMP no registrado o colegiatura no válida"),
    ({"fechaEmision": (datetime.now(UTC) + timedelta(days=2)).isoformat()}, "La fecha de emisión no puede ser futura"),
    ({"fechaEmision": (datetime.now(UTC) - timedelta(days=40)).isoformat()}, "La receta ha expirado (validez 30 días)"),
])
def test_ocr_validar_refusals_are_the_real_400s(sb, http, prescriptions_url, reading, error):
    sb.validar_ocr = True
    receta = add(sb)
    sb.prescriptions.set_ocr(receta["_id"], **reading)
    response = validar(http, prescriptions_url, receta["_id"])
    assert response.status_code == 400 and response.json()["error"] == error
    assert sb.prescriptions.get(receta["_id"])["estadoValidacion"] == "pendiente"


def test_validar_without_s3_answers_the_sdk_500(sb, http, prescriptions_url):
    sb.generation = "nueva"
    sb.validar_without_s3 = True
    receta = add(sb)
    response = validar(http, prescriptions_url, receta["_id"])
    assert response.status_code == 500
    assert response.json() == {"error": "Error al validar la receta",
                               "detalle": "Missing required key 'Bucket' in params",
                               "codigo": "MissingRequiredParameter"}
    assert http.get(f"{prescriptions_url}/api/recetas/{receta['_id']}").json()["pdfUrl"] is None
    assert sb.prescriptions.get(receta["_id"])["estadoValidacion"] == "pendiente"


def test_slow_writes_land_even_when_the_caller_gave_up(sb, http, prescriptions_url):
    import requests

    sb.slow_writes_seconds = 0.6
    receta = add(sb)
    with pytest.raises(requests.Timeout):
        http.put(f"{prescriptions_url}/api/recetas/estado/{receta['_id']}", json={"estadoValidacion": "rechazada"},
                 timeout=0.2)
    for _ in range(50):
        if sb.prescriptions.get(receta["_id"])["estadoValidacion"] == "rechazada":
            break
        import time
        time.sleep(0.05)
    assert sb.prescriptions.get(receta["_id"])["estadoValidacion"] == "rechazada"


def test_doctors_filter_ignoring_cmp_sorts_by_name_whatever_is_asked(sb, http, prescriptions_url):
    sb.doctors_filter_ignores_cmp = True
    body = http.get(f"{prescriptions_url}/api/medicos/filter",
                    params={"cmp": "CMP100013", "sort": "cmp", "limit": 100}).json()
    names = [d["nombre"] for d in body["items"]]
    assert names == sorted(names) and body["total"] == len(sb.prescriptions.doctors())


# Users and products ----------------------------------------------------------------------------
def test_login_matches_the_email_exactly(sb, http, users_url):
    ok = http.post(f"{users_url}/api/auth/login", json={"email": "ana.quispe@example.com", "password": "Cliente123!"})
    capital = http.post(f"{users_url}/api/auth/login",
                        json={"email": "Ana.Quispe@example.com", "password": "Cliente123!"})
    assert ok.status_code == 200 and capital.status_code == 400
    sb.email_ignores_case = True
    assert http.post(f"{users_url}/api/auth/login",
                     json={"email": "Ana.Quispe@example.com", "password": "Cliente123!"}).status_code == 200


def test_new_purchases_are_stamped_in_utc_without_an_offset(sb, http, users_url, ana_headers):
    body = http.post(f"{users_url}/api/compras", json={"productos": [1], "cantidades": [1]}, headers=ana_headers).json()
    stamped = datetime.fromisoformat(body["fechaCompra"])
    assert stamped.tzinfo is None
    assert abs(stamped.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)


def test_upstream_timezone_mode_writes_naive_times_in_that_zone(sb, http, users_url, ana_headers):
    sb.upstream_timezone = "America/Lima"
    body = http.post(f"{users_url}/api/compras", json={"productos": [1], "cantidades": [1]}, headers=ana_headers).json()
    stamped = datetime.fromisoformat(body["fechaCompra"]).replace(tzinfo=ZoneInfo("America/Lima"))
    assert abs(stamped - datetime.now(UTC)) < timedelta(minutes=1)


def test_seeded_purchases_happen_in_lima_opening_hours(sb):
    for purchase in sb.users.purchases():
        lima = datetime.fromisoformat(purchase["fechaCompra"]).replace(tzinfo=UTC).astimezone(ZoneInfo("America/Lima"))
        assert 8 <= lima.hour <= 21


def test_product_name_search_ignores_accents_and_case(sb, http, products_url):
    body = http.get(f"{products_url}/api/productos/nombre", params={"nombre": "ACIDO"}).json()
    assert body["total"] >= 3 and all("cido" in p["nombre"] for p in body["productos"])


# The web front-end's routes ----------------------------------------------------------------------
def test_upload_stores_a_pending_prescription(sb, http, prescriptions_url):
    response = http.post(f"{prescriptions_url}/api/recetas/upload", files={"archivo": ("receta.pdf", PDF,
                                                                                       "application/pdf")},
                         data={"pacienteDNI": ANA_DNI, "medicoCMP": "CMP100001",
                               "productos": json.dumps([{"id": 40, "nombre": "Amoxicilina 500mg", "cantidad": 1}])})
    assert response.status_code == 201
    receta = response.json()["receta"]
    assert receta["estadoValidacion"] == "pendiente" and receta["pacienteDNI"] == ANA_DNI
    assert sb.prescriptions.get(receta["_id"])["archivoPDF"].endswith(".pdf")


@pytest.mark.parametrize(("files", "error"), [
    (None, "No se envió ningún archivo PDF"),
    ({"archivo": ("x.txt", b"hola", "text/plain")}, "El archivo debe ser un PDF"),
])
def test_upload_refuses_no_pdf(sb, http, prescriptions_url, files, error):
    response = http.post(f"{prescriptions_url}/api/recetas/upload", files=files, data={"pacienteDNI": ANA_DNI})
    assert response.status_code == 400 and response.json()["error"] == error


def test_delete_archivo_removes_the_whole_record(sb, http, prescriptions_url):
    receta = add(sb)
    response = http.delete(f"{prescriptions_url}/api/recetas/archivo/{receta['_id']}")
    assert response.status_code == 200
    assert sb.prescriptions.get(receta["_id"]) is None
    assert http.delete(f"{prescriptions_url}/api/recetas/archivo/{receta['_id']}").status_code == 404


def test_offers_create_update_delete(sb, http, products_url):
    created = http.post(f"{products_url}/api/ofertas/crear", json={
        "fecha_vencimiento": "2030-01-31T23:59:59-05:00", "detalles": [{"producto_id": 1, "descuento": 15}]})
    assert created.status_code == 201
    offer = created.json()
    assert offer["fecha_vencimiento"] == "2030-01-31T23:59:59"  # the offset is lost, as upstream
    assert [(d["producto_id"], d["descuento"]) for d in offer["detalles"]] == [(1, 15.0)]
    changed = http.put(f"{products_url}/api/ofertas/{offer['id']}", json={"detalles": [{"producto_id": 2,
                                                                                         "descuento": 5}]})
    assert changed.status_code == 200 and changed.json()["detalles"][0]["producto_id"] == 2
    assert http.get(f"{products_url}/api/ofertas/{offer['id']}").json()["detalles"][0]["producto_id"] == 2
    assert http.delete(f"{products_url}/api/ofertas/{offer['id']}").status_code == 204
    assert http.get(f"{products_url}/api/ofertas/{offer['id']}").status_code == 404
    assert http.put(f"{products_url}/api/ofertas/{offer['id']}", json={}).status_code == 404


def test_offers_create_refuses_bad_bodies_like_fastapi(sb, http, products_url):
    response = http.post(f"{products_url}/api/ofertas/crear", json={"detalles": []})
    assert response.status_code == 422 and isinstance(response.json()["detail"], list)
    response = http.post(f"{products_url}/api/ofertas/crear", json={
        "fecha_vencimiento": "2030-01-01T00:00:00", "detalles": [{"producto_id": 1, "descuento": 150}]})
    assert response.status_code == 422
