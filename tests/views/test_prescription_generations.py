"""The prescription page against the newest prescriptions service: no Rechazar / Volver a pendiente where
the service cannot do them, what its OCR `validar` changed, its refusals and failures, and answers
that never contradict the write."""
from __future__ import annotations

import requests
import responses

from dashboard.clients.prescriptions import PROBE_ID
from tests.conftest import PRESCRIPTIONS, USERS
from tests.payloads import doctor_payload, page, prescription_payload
from tests.views.conftest import INVALID_RX, VALID_RX

HTML_404 = {"body": "<!DOCTYPE html><pre>Cannot PUT</pre>", "status": 404, "content_type": "text/html"}


def newest(mocked, rid: str = VALID_RX) -> None:
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{PROBE_ID}", **HTML_404)
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{rid}", **HTML_404)


def post_state(client, rid: str, estado: str, **extra):
    return client.post(f"/recetas/{rid}/estado", {"estado": estado, **extra}, HTTP_HX_REQUEST="true")


def writes(mocked) -> list[str]:
    return [c.request.url for c in mocked.calls if c.request.method == "PUT" and PROBE_ID not in c.request.url]


def test_detail_offers_reject_and_reset_on_the_older_generation(admin_client, world, mocked):
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}",
                  json=prescription_payload(VALID_RX, productos=[(3, "Amoxicilina 500mg", 1)], estado="validada"))
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "Rechazar…" in body and "Volver a pendiente" in body and "data-sin-ruta-estado" not in body


def test_detail_hides_reject_and_reset_where_the_service_has_no_estado_route(admin_client, world, mocked):
    newest(mocked)
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}",
                  json=prescription_payload(VALID_RX, productos=[(3, "Amoxicilina 500mg", 1)], estado="validada"))
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "Rechazar…" not in body and "Volver a pendiente" not in body
    assert "data-sin-ruta-estado" in body and "PUT /api/recetas/estado/{id}" in body
    assert not writes(mocked)  # the probe told; nothing was written to find out


def test_reject_on_the_newest_generation_says_why_and_changes_nothing(admin_client, world, mocked):
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{INVALID_RX}", **HTML_404)
    response = post_state(admin_client, INVALID_RX, "RECHAZADA", motivo="Ilegible")
    body = response.content.decode()
    assert response.status_code == 422
    assert "no tiene la ruta PUT /api/recetas/estado/{id}" in body and "El estado de la receta no cambió." in body
    assert "Rechazar…" not in body  # learnt from that answer
    assert len(writes(mocked)) == 1


def test_validar_that_rewrote_fields_shows_the_changes_and_warnings_prominently(admin_client, world, mocked):
    newest(mocked)
    original = prescription_payload(VALID_RX, productos=[(3, "AMOXICILINA  500mg", 1)])
    stored = {**original, "medicoCMP": "CMP100007", "estadoValidacion": "validada"}
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}/validar", json={"mensaje": "ok", "receta": stored})
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/medicos/filter", json=page(
        [doctor_payload("CMP100001"), doctor_payload("CMP100007", valida=False)], size_key="limit"))
    response = post_state(admin_client, VALID_RX, "VALIDADA")
    body = response.content.decode()
    assert response.status_code == 200
    assert "notice-warning" in body and "data-advertencias" in body and "ya no superan la validación" in body
    assert "data-cambios" in body and "CMP100007" in body


def test_validar_refusal_shows_the_service_reason(admin_client, world, mocked):
    newest(mocked)
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}/validar", status=400,
                  json={"error": "CMP no registrado o colegiatura no válida"})
    response = post_state(admin_client, VALID_RX, "VALIDADA")
    assert response.status_code == 422
    assert "CMP no registrado o colegiatura no válida" in response.content.decode()


def test_validar_without_s3_shows_the_service_text(admin_client, world, mocked):
    newest(mocked)
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}/validar", status=500, json={
        "error": "Error al validar la receta", "detalle": "Missing required key 'Bucket' in params",
        "codigo": "MissingRequiredParameter"})
    response = post_state(admin_client, VALID_RX, "VALIDADA")
    body = response.content.decode()
    assert response.status_code == 502
    assert "data-detalle" in body and "Missing required key &#x27;Bucket&#x27; in params" in body


def test_write_timeout_says_it_may_have_been_applied_and_shows_the_state_found(admin_client, world, mocked):
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{VALID_RX}", body=requests.exceptions.ReadTimeout())
    valid = prescription_payload(VALID_RX, productos=[(3, "AMOXICILINA  500mg", 1)])
    # the review before the write reads it pending; the reload after finds it validated
    mocked.replace(responses.GET, f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", json=valid)
    mocked.add(responses.GET, f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", json={**valid, "estadoValidacion": "validada"})
    response = post_state(admin_client, VALID_RX, "VALIDADA")
    body = response.content.decode()
    assert response.status_code == 504
    assert "puede haberse aplicado" in body and "data-incierto" in body and "«validada»" in body


def test_write_that_succeeded_is_a_success_even_when_the_reload_times_out(admin_client, world, mocked):
    valid = prescription_payload(VALID_RX, productos=[(3, "AMOXICILINA  500mg", 1)])
    mocked.replace(responses.GET, f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", json=valid)
    mocked.add(responses.GET, f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", body=requests.exceptions.ReadTimeout())
    response = post_state(admin_client, VALID_RX, "VALIDADA")
    body = response.content.decode()
    assert response.status_code == 200
    assert "notice-success" in body and "Receta validada." in body
    assert "no respondió a tiempo" not in body.split("data-recarga-fallida")[0]
    assert "data-recarga-fallida" in body


def test_status_page_names_the_older_generation(admin_client, world, mocked):
    body = admin_client.get("/estado").content.decode()
    assert 'data-generacion="anterior"' in body


def test_status_page_names_the_newest_generation_and_what_it_cannot_do(admin_client, world, mocked):
    newest(mocked)
    body = admin_client.get("/estado").content.decode()
    assert 'data-generacion="nueva"' in body and "solo se puede validar" in body


def test_status_page_says_unknown_when_the_probe_fails(admin_client, world, mocked):
    mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{PROBE_ID}", body=requests.exceptions.ConnectTimeout())
    body = admin_client.get("/estado").content.decode()
    assert 'data-generacion="desconocida"' in body


# "dispensado X de Y" -----------------------------------------------------------------------------
def validated_world(mocked, *, bought: int) -> None:
    import datetime as dt

    from tests.payloads import purchase_payload

    validated = prescription_payload(VALID_RX, productos=[(3, "Amoxicilina 500mg", 2)], estado="validada")
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", json=validated)
    mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/filter", json=page([validated], size=100))
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(tzinfo=None).isoformat()
    mine = [purchase_payload(90, productos=[3], cantidades=[bought], fecha=recent, usuario_id=7),
            purchase_payload(91, productos=[1], cantidades=[4], fecha=recent, usuario_id=7)]
    mocked.upsert("GET", f"{USERS}/api/compras/me", json=mine)
    mocked.upsert("GET", f"{USERS}/api/compras/all", json=mine + [
        purchase_payload(92, productos=[3], cantidades=[5], fecha=recent, usuario_id=8)])


def test_patient_sees_what_their_validated_prescription_dispensed(client_client, world, mocked):
    validated_world(mocked, bought=1)
    body = client_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "dispensado 1 de 2" in body


def test_admin_sees_unknown_dispensing_until_the_patients_purchases_are_known(admin_client, world, mocked):
    validated_world(mocked, bought=1)
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "data-dispensado-desconocido" in body and "dispensado 0 de 2" not in body


def test_admin_sees_dispensing_once_the_patients_internal_id_was_learnt(admin_client, world, mocked):
    from django.core.cache import cache

    from tests.views.conftest import CLIENT_DNI

    validated_world(mocked, bought=2)
    cache.set(f"usuario_id_por_dni:{CLIENT_DNI}", 7)
    body = admin_client.get(f"/recetas/{VALID_RX}").content.decode()
    assert "dispensado 2 de 2" in body  # another buyer's 5 units (usuarioId 8) do not count
