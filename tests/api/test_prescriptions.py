"""PUT /api/orchestrator/recetas/estado/{id} and /recetas/validar/{id}: access, input, answers."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.conftest import PRESCRIPTIONS, USERS
from tests.payloads import user_payload
from tests.services.test_prescriptions import RID, mock_prescription, mock_world

ESTADO = f"/api/orchestrator/recetas/estado/{RID}"
VALIDAR = f"/api/orchestrator/recetas/validar/{RID}"
TOKEN = "Bearer a.b.c"


def as_admin(mocked) -> None:
    mocked.get(f"{USERS}/api/user/me", json=user_payload("40123456", role="ADMIN"))


def put(client, url: str, body=None, *, raw: str | None = None, token: str | None = TOKEN):
    data = raw if raw is not None else ("" if body is None else json.dumps(body))
    headers = {"HTTP_AUTHORIZATION": token} if token else {}
    return client.put(url, data=data, content_type="application/json", **headers)


def upstream_writes(mocked) -> list[str]:
    return [urlsplit(c.request.url).path for c in mocked.calls if c.request.method == "PUT"]


def mock_write(mocked, receta: dict, estado: str) -> dict:
    updated = {**receta, "estadoValidacion": estado}
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}",
               json={"mensaje": "Estado de la receta actualizado", "receta": updated})
    return updated


def test_estado_requires_a_token(client, mocked):
    response = put(client, ESTADO, {"estadovalidacion": "VALIDADA"}, token=None)
    assert response.status_code == 401
    assert response.json()["error"] == "Token de autenticación requerido"
    assert not mocked.calls


def test_estado_is_forbidden_to_a_customer(client, mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload("72345678"))
    response = put(client, ESTADO, {"estadovalidacion": "VALIDADA"})
    assert response.status_code == 403
    assert response.json()["error"] == "Se requieren permisos de administrador"
    assert [urlsplit(c.request.url).path for c in mocked.calls] == ["/api/user/me"]


def test_validar_is_forbidden_to_a_customer(client, mocked):
    mocked.get(f"{USERS}/api/user/me", json=user_payload("72345678"))
    assert put(client, VALIDAR).status_code == 403
    assert not upstream_writes(mocked)


@pytest.mark.parametrize("bad_id", ["123", "68f7c2e4a1b2c3d4e5f6071g", "68f7c2e4a1b2c3d4e5f60718aa", "z" * 24])
def test_estado_refuses_a_malformed_id_without_any_upstream_call(client, mocked, bad_id):
    response = put(client, f"/api/orchestrator/recetas/estado/{bad_id}", {"estadovalidacion": "VALIDADA"})
    assert response.status_code == 400
    assert response.json()["details"]["code"] == "id_invalido"
    assert not mocked.calls


def test_estado_refuses_an_id_with_a_trailing_newline_without_any_upstream_call(client, mocked):
    as_admin(mocked)
    response = put(client, f"/api/orchestrator/recetas/estado/{RID}%0A", {"estadovalidacion": "RECHAZADA"})
    assert response.status_code == 400 and response.json()["details"]["code"] == "id_invalido"
    assert not mocked.calls


def test_estado_passes_an_unknown_prescription_404_through(client, mocked):
    as_admin(mocked)
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/{RID}", json={"error": "Receta no encontrada"}, status=404)
    response = put(client, ESTADO, {"estadovalidacion": "RECHAZADA"})
    assert response.status_code == 404
    assert "Receta no encontrada" in response.json()["error"]
    assert not upstream_writes(mocked)


def test_estado_refuses_invalid_json(client, mocked):
    as_admin(mocked)
    response = put(client, ESTADO, raw="{estado: validada")
    assert response.status_code == 400 and response.json()["details"]["code"] == "json_invalido"


@pytest.mark.parametrize("body", [{"estadovalidacion": "APROBADA"}, {"estado": True}, {"motivo": "x"}, ["VALIDADA"]])
def test_estado_refuses_anything_but_a_known_state(client, mocked, body):
    as_admin(mocked)
    response = put(client, ESTADO, body)
    assert response.status_code == 400
    assert not upstream_writes(mocked)


def test_estado_refuses_an_empty_body(client, mocked):
    as_admin(mocked)
    assert put(client, ESTADO).status_code == 400


def test_estado_approves_a_valid_prescription(client, mocked):
    as_admin(mocked)
    receta = mock_world(mocked)
    updated = mock_write(mocked, receta, "validada")
    response = put(client, ESTADO, {"estadoValidacion": "validada"})
    assert response.status_code == 200
    assert response.json() == {"mensaje": "Receta validada y actualizada exitosamente", "receta": updated,
                               "validaciones": {"productos_validados": 1, "medico_valido": True,
                                                "paciente_valido": True, "vigente": True}}
    assert upstream_writes(mocked) == [f"/api/recetas/estado/{RID}"]


def test_estado_refused_approval_answers_400_with_every_check_and_writes_nothing(client, mocked):
    as_admin(mocked)
    mock_world(mocked, receta={"days_ago": 40})
    response = put(client, ESTADO, {"estado": "VALIDADA"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "La receta no superó la validación"
    assert body["details"]["code"] == "receta_invalida"
    validaciones = body["details"]["validaciones"]
    assert {k: v["ok"] for k, v in validaciones.items()} == {
        "productos": True, "medico": True, "paciente": True, "vigencia": False}
    assert "venció" in validaciones["vigencia"]["mensaje"]
    assert not upstream_writes(mocked)


def test_estado_rejects_with_a_motivo(client, mocked):
    as_admin(mocked)
    receta = mock_prescription(mocked)
    updated = mock_write(mocked, receta, "rechazada")
    response = put(client, ESTADO, {"estadovalidacion": "rechazada", "motivo": "Firma ilegible"})
    assert response.status_code == 200
    assert response.json() == {"mensaje": "Receta actualizada a RECHAZADA", "receta": updated,
                               "motivo": "Firma ilegible"}
    assert json.loads(mocked.calls[-1].request.body) == {"estadoValidacion": "rechazada"}


def test_estado_refuses_a_motivo_over_500_chars(client, mocked):
    as_admin(mocked)
    response = put(client, ESTADO, {"estadovalidacion": "RECHAZADA", "motivo": "x" * 501})
    assert response.status_code == 400 and response.json()["details"]["code"] == "motivo_invalido"
    assert not upstream_writes(mocked)


def test_estado_resets_to_pendiente(client, mocked):
    as_admin(mocked)
    receta = mock_prescription(mocked, estado="rechazada")
    mock_write(mocked, receta, "pendiente")
    response = put(client, ESTADO, {"estadovalidacion": "Pendiente"})
    assert response.status_code == 200 and response.json()["mensaje"] == "Receta actualizada a PENDIENTE"


def test_validar_approves_with_an_empty_body(client, mocked):
    as_admin(mocked)
    receta = mock_world(mocked)
    mock_write(mocked, receta, "validada")
    response = put(client, VALIDAR)
    assert response.status_code == 200
    assert response.json()["receta"]["estadoValidacion"] == "validada"


def test_validar_refuses_another_state(client, mocked):
    as_admin(mocked)
    response = put(client, VALIDAR, {"estado": "RECHAZADA"})
    assert response.status_code == 400
    assert not upstream_writes(mocked)


def test_validar_answers_405_to_post(client, mocked):
    response = client.post(VALIDAR, HTTP_AUTHORIZATION=TOKEN)
    assert response.status_code == 405 and response["Allow"] == "PUT"
