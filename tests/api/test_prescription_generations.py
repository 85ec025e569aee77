"""PUT /recetas/estado|validar against both prescription-service generations: 501 where a state cannot
be set, what the OCR `validar` changed, the service's refusals and failures, and answers that never
contradict the write."""
from __future__ import annotations

import requests
import responses

from tests.api.test_prescriptions import ESTADO, VALIDAR, as_admin, put, upstream_writes
from tests.conftest import PRESCRIPTIONS, PRODUCTS
from tests.payloads import doctor_payload, page, product_payload
from tests.services.test_prescriptions import RID, mock_prescription, mock_world

HTML_404 = {"body": "<!DOCTYPE html><html><body><pre>Cannot PUT /api/recetas/estado/x</pre></body></html>",
            "status": 404, "content_type": "text/html; charset=utf-8"}


def newest_generation(mocked) -> None:
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", **HTML_404)


def mock_validar(mocked, stored: dict, **kw) -> None:
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar",
               json={"mensaje": "Receta validada y actualizada correctamente", "receta": stored}, **kw)


def test_rejecting_where_the_service_has_no_estado_route_is_501_naming_it(client, mocked):
    as_admin(mocked)
    mock_prescription(mocked)
    newest_generation(mocked)
    response = put(client, ESTADO, {"estadovalidacion": "RECHAZADA", "motivo": "Ilegible"})
    assert response.status_code == 501
    body = response.json()
    assert body["details"] == {"code": "operacion_no_soportada", "servicio": "recetas_y_medicos",
                               "ruta": "PUT /api/recetas/estado/{id}", "generacion": "nueva"}
    assert "PUT /api/recetas/estado/{id}" in body["error"]
    # the only write tried was the one that answered the HTML 404: nothing stored, no `validar`
    assert upstream_writes(mocked) == [f"/api/recetas/estado/{RID}"]
    # once learnt, resetting costs no write at all
    response = put(client, ESTADO, {"estadovalidacion": "PENDIENTE"})
    assert response.status_code == 501
    assert upstream_writes(mocked) == [f"/api/recetas/estado/{RID}"]


def test_approving_on_the_newest_generation_goes_through_validar(client, mocked):
    as_admin(mocked)
    receta = mock_world(mocked)
    newest_generation(mocked)
    mock_validar(mocked, {**receta, "estadoValidacion": "validada"})
    response = put(client, VALIDAR)
    assert response.status_code == 200
    body = response.json()
    assert body["receta"]["estadoValidacion"] == "validada"
    assert "cambios" not in body and "advertencias" not in body
    assert upstream_writes(mocked) == [f"/api/recetas/estado/{RID}", f"/api/recetas/{RID}/validar"]


def test_validar_that_rewrote_fields_answers_the_changes_and_rechecks_them(client, mocked):
    as_admin(mocked)
    receta = mock_world(mocked)
    newest_generation(mocked)
    ocr_lines = [{**receta["productos"][0], "cantidad": 5}, {"id": 8, "nombre": "Ibuprofeno 400mg", "cantidad": 1,
                                                             "_id": "1" * 24}]
    stored = {**receta, "medicoCMP": "CMP100007", "productos": ocr_lines, "estadoValidacion": "validada"}
    mock_validar(mocked, stored)
    mocked.get(f"{PRODUCTS}/api/productos/8", json=product_payload(8, nombre="Ibuprofeno 400mg"))
    mocked.replace(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter", json=page(
        [doctor_payload(receta["medicoCMP"]), doctor_payload("CMP100007", valida=False, nombre="Dra. Milagros Ccori")],
        size_key="limit"))
    response = put(client, ESTADO, {"estadovalidacion": "VALIDADA"})
    assert response.status_code == 200
    body = response.json()
    assert set(body["cambios"]) == {"medicoCMP", "productos"}
    assert body["cambios"]["medicoCMP"] == {"antes": receta["medicoCMP"], "despues": "CMP100007"}
    assert body["cambios"]["productos"]["antes"] == [{"id": 40, "nombre": "Amoxicilina 500mg", "cantidad": 2}]
    assert body["cambios"]["productos"]["despues"][0]["cantidad"] == 5
    assert body["validaciones"]["medico_valido"] is False
    assert body["validaciones"]["productos_validados"] == 2
    assert body["validaciones"]["detalle"]["medico"]["ok"] is False
    assert len(body["advertencias"]) == 1 and "CMP100007" in body["advertencias"][0]
    assert body["receta"] == stored


def test_validar_refusal_is_400_with_the_service_reason(client, mocked):
    as_admin(mocked)
    mock_world(mocked)
    newest_generation(mocked)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar", status=400,
               json={"error": "PDF incompleto o inválido", "detalle": {"dni": None, "cmp": "CMP100001"}})
    response = put(client, VALIDAR)
    assert response.status_code == 400
    body = response.json()
    assert body["details"]["motivo"] == "PDF incompleto o inválido"
    assert body["details"]["detalle"] == {"dni": None, "cmp": "CMP100001"}
    assert body["details"]["code"] == "validacion_rechazada_por_servicio"
    assert "PDF incompleto o inválido" in body["error"]


def test_validar_without_s3_is_502_with_the_service_text(client, mocked):
    as_admin(mocked)
    mock_world(mocked)
    newest_generation(mocked)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar", status=500, json={
        "error": "Error al validar la receta", "detalle": "Missing required key 'Bucket' in params",
        "codigo": "MissingRequiredParameter"})
    response = put(client, VALIDAR)
    assert response.status_code == 502
    assert "Missing required key 'Bucket' in params" in response.json()["details"]["detalle"]


def test_a_write_that_succeeded_is_a_success_even_if_the_reread_fails(client, mocked):
    as_admin(mocked)
    receta = mock_world(mocked)
    newest_generation(mocked)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar", body="", status=200)  # written, nothing said
    # the review's read answers; every later read of the prescription times out
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/{RID}", body=requests.exceptions.ReadTimeout())
    response = put(client, VALIDAR)
    assert response.status_code == 200
    body = response.json()
    assert body["receta"]["_id"] == receta["_id"] and body["receta"]["estadoValidacion"] == "validada"
    assert any("no se pudo releer" in a for a in body["advertencias"])


def test_a_write_that_timed_out_is_504_resultado_incierto(client, mocked):
    as_admin(mocked)
    mock_world(mocked)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body=requests.exceptions.ReadTimeout())
    response = put(client, ESTADO, {"estadovalidacion": "VALIDADA"})
    assert response.status_code == 504
    body = response.json()
    assert body["details"]["code"] == "resultado_incierto"
    assert body["details"]["servicio"] == "recetas_y_medicos"
    assert "puede haberse aplicado" in body["error"]
    assert upstream_writes(mocked) == [f"/api/recetas/estado/{RID}"]


def test_openapi_documents_501_on_both_prescription_routes(client):
    doc = client.get("/api/orchestrator/openapi.json").json()
    for path in ("/recetas/estado/{receta_id}", "/recetas/validar/{receta_id}"):
        assert "501" in doc["paths"][path]["put"]["responses"]
