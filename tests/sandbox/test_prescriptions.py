"""The prescriptions service: detail, filter, both approval routes, doctors filter, Express errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import ANA_DNI

pytestmark = pytest.mark.integration

MISSING_ID = "0123456789abcdef01234567"


def first(sb, **criteria):
    return sb.prescriptions.filter(**criteria)[0]


def add(sb, *, days_ago=3, cmp="CMP100001", estado="pendiente"):
    return sb.prescriptions.add(paciente_dni=ANA_DNI, medico_cmp=cmp,
                                fecha_emision=datetime.now(UTC) - timedelta(days=days_ago),
                                productos=[{"id": 40, "nombre": "Amoxicilina 500mg", "cantidad": 1}], estado=estado)


def assert_html_404(response):
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Cannot" in response.text


def test_detail_adds_pdf_url(sb, http, prescriptions_url):
    stored = first(sb, dni=ANA_DNI)
    response = http.get(f"{prescriptions_url}/api/recetas/{stored['_id']}")
    assert response.status_code == 200
    body = response.json()
    assert body.pop("pdfUrl").startswith("https://")
    assert body == stored
    assert set(body["productos"][0]) == {"id", "nombre", "cantidad", "_id"}


def test_detail_malformed_id_is_400(http, prescriptions_url):
    response = http.get(f"{prescriptions_url}/api/recetas/no-es-un-id")
    assert response.status_code == 400
    assert response.json() == {"error": "ID de receta inválido"}


def test_detail_unknown_id_is_404(http, prescriptions_url):
    response = http.get(f"{prescriptions_url}/api/recetas/{MISSING_ID}")
    assert response.status_code == 404
    assert response.json() == {"error": "Receta no encontrada"}


def test_filter_by_dni_newest_first(sb, http, prescriptions_url):
    body = http.get(f"{prescriptions_url}/api/recetas/filter", params={"dni": ANA_DNI, "pagesize": 100}).json()
    assert list(body) == ["page", "pagesize", "total", "items"]
    assert body["total"] == len(body["items"]) >= 5
    assert {item["pacienteDNI"] for item in body["items"]} == {ANA_DNI}
    dates = [item["fechaEmision"] for item in body["items"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("estado", ["pendiente", "validada", "rechazada"])
def test_filter_by_state(http, prescriptions_url, estado):
    body = http.get(f"{prescriptions_url}/api/recetas/filter", params={"estado": estado, "pagesize": 100}).json()
    assert body["total"] > 0 and {item["estadoValidacion"] for item in body["items"]} == {estado}


def test_filter_by_cmp(http, prescriptions_url):
    body = http.get(f"{prescriptions_url}/api/recetas/filter", params={"cmp": "CMP100001"}).json()
    assert body["total"] >= 1 and {item["medicoCMP"] for item in body["items"]} == {"CMP100001"}


@pytest.mark.parametrize("pagesize, expected", [("0", 1), ("500", 100), ("5", 5), ("x", 10)])
def test_filter_pagesize_is_clamped(http, prescriptions_url, pagesize, expected):
    body = http.get(f"{prescriptions_url}/api/recetas/filter", params={"pagesize": pagesize}).json()
    assert body["pagesize"] == expected and len(body["items"]) == min(expected, body["total"])


@pytest.mark.parametrize("estado", ["validada", "rechazada", "pendiente"])
def test_set_state(sb, http, prescriptions_url, estado):
    stored = first(sb, estado="pendiente")
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{stored['_id']}", json={"estadoValidacion": estado})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"mensaje", "receta"} and body["receta"]["estadoValidacion"] == estado
    assert sb.prescriptions.get(stored["_id"])["estadoValidacion"] == estado


def test_set_state_trusts_the_caller(sb, http, prescriptions_url):
    expired = add(sb, days_ago=90, cmp="CMP100007")
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{expired['_id']}",
                        json={"estadoValidacion": "validada"})
    assert response.status_code == 200


def test_set_unknown_state_is_400(sb, http, prescriptions_url):
    stored = first(sb, estado="pendiente")
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{stored['_id']}",
                        json={"estadoValidacion": "VALIDADA"})
    assert response.status_code == 400
    assert "error" in response.json()
    assert sb.prescriptions.get(stored["_id"])["estadoValidacion"] == "pendiente"


def test_set_state_of_unknown_prescription_is_404(http, prescriptions_url):
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{MISSING_ID}", json={"estadoValidacion": "validada"})
    assert response.status_code == 404


def test_set_state_with_malformed_json_is_an_html_400(sb, http, prescriptions_url):
    stored = first(sb, estado="pendiente")
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{stored['_id']}", data=b"{mal",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")


def test_validar_approves_a_valid_prescription(sb, http, prescriptions_url):
    stored = add(sb)
    response = http.put(f"{prescriptions_url}/api/recetas/{stored['_id']}/validar")
    assert response.status_code == 200
    assert response.json()["receta"]["estadoValidacion"] == "validada"


@pytest.mark.parametrize("days_ago, cmp", [(45, "CMP100001"), (-3, "CMP100001"), (2, "CMP100007"), (2, "CMP999999")])
def test_validar_checks_doctor_and_dates(sb, http, prescriptions_url, days_ago, cmp):
    stored = add(sb, days_ago=days_ago, cmp=cmp)
    response = http.put(f"{prescriptions_url}/api/recetas/{stored['_id']}/validar")
    assert response.status_code == 400
    assert set(response.json()) == {"error", "detalle"}
    assert sb.prescriptions.get(stored["_id"])["estadoValidacion"] == "pendiente"


def test_validar_route_only_mode_hides_the_estado_route(sb, http, prescriptions_url):
    sb.validar_route_only = True
    stored = add(sb)
    assert_html_404(http.put(f"{prescriptions_url}/api/recetas/estado/{stored['_id']}",
                             json={"estadoValidacion": "validada"}))
    assert http.put(f"{prescriptions_url}/api/recetas/{stored['_id']}/validar").status_code == 200


def test_unknown_route_is_express_html_404(http, prescriptions_url):
    assert_html_404(http.get(f"{prescriptions_url}/api/nada"))
    assert_html_404(http.delete(f"{prescriptions_url}/api/recetas/{MISSING_ID}"))


def test_doctors_filter_shape_and_limit_clamp(sb, http, prescriptions_url):
    body = http.get(f"{prescriptions_url}/api/medicos/filter", params={"limit": 1000}).json()
    assert list(body) == ["page", "limit", "total", "items"]
    assert body["limit"] == 100 and len(body["items"]) == 100 and body["total"] == len(sb.prescriptions.doctors())
    assert set(body["items"][0]) == {"_id", "cmp", "nombre", "especialidad", "colegiaturaValida"}
    assert http.get(f"{prescriptions_url}/api/medicos/filter", params={"limit": 0}).json()["limit"] == 1


def test_doctors_filter_by_name_and_specialty_case_insensitive(http, prescriptions_url):
    body = http.get(f"{prescriptions_url}/api/medicos/filter",
                    params={"nombre": "LORENA", "especialidad": "neuro", "limit": 100}).json()
    assert "CMP100001" in {doctor["cmp"] for doctor in body["items"]}
    assert all("lorena" in d["nombre"].lower() and "neuro" in d["especialidad"].lower() for d in body["items"])


@pytest.mark.parametrize("flag, expected", [("true", True), ("false", False)])
def test_doctors_filter_by_registration(http, prescriptions_url, flag, expected):
    body = http.get(f"{prescriptions_url}/api/medicos/filter", params={"colegiaturaValida": flag, "limit": 100}).json()
    assert body["total"] > 0 and {doctor["colegiaturaValida"] for doctor in body["items"]} == {expected}


def test_doctors_filter_sort_and_pages(http, prescriptions_url):
    url = f"{prescriptions_url}/api/medicos/filter"
    descending = http.get(url, params={"sort": "-cmp", "limit": 5}).json()["items"]
    assert [d["cmp"] for d in descending] == sorted((d["cmp"] for d in descending), reverse=True)
    page_two = http.get(url, params={"page": 2, "limit": 5}).json()
    assert page_two["page"] == 2 and page_two["items"][0]["cmp"] == "CMP100006"


def test_doctors_filter_by_exact_cmp(http, prescriptions_url):
    body = http.get(f"{prescriptions_url}/api/medicos/filter", params={"cmp": "CMP100013"}).json()
    assert body["total"] == 1 and body["items"][0]["cmp"] == "CMP100013"
    assert body["items"][0]["colegiaturaValida"] is False


def test_doctors_filter_ignoring_cmp_mode(sb, http, prescriptions_url):
    sb.doctors_filter_ignores_cmp = True
    body = http.get(f"{prescriptions_url}/api/medicos/filter", params={"cmp": "CMP100013"}).json()
    assert body["total"] == len(sb.prescriptions.doctors())


def test_set_state_without_body_is_a_json_400(sb, http, prescriptions_url):
    stored = first(sb, estado="pendiente")
    response = http.put(f"{prescriptions_url}/api/recetas/estado/{stored['_id']}")
    assert response.status_code == 400 and "error" in response.json()
