"""Approving and rejecting prescriptions end to end, against the sandbox's three services."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest

from dashboard.clients.base import reset_sessions
from dashboard.text import names_match
from sandbox import DEMO_LOGINS, Sandbox

pytestmark = pytest.mark.integration

ADMIN_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "ADMIN")
CUSTOMER_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
VALIDITY_DAYS = 30
LIMA = ZoneInfo("America/Lima")


def days_ago(days: int) -> dt.datetime:
    """Midnight UTC of the day `days` ago on Lima's calendar: how the prescriptions service stores a
    date-only emission, counted the way the validity check counts (by Lima's calendar)."""
    today = dt.datetime.now(LIMA).date()
    return dt.datetime.combine(today - dt.timedelta(days=days), dt.time(0), dt.UTC)


def approve(client, sb: Sandbox, rid: str, *, dni: str = ADMIN_DNI, route: str = "estado"):
    body = '{"estadovalidacion": "VALIDADA"}' if route == "estado" else ""
    return client.put(f"/api/orchestrator/recetas/{route}/{rid}", data=body, content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {sb.token_for(dni)}")


def valid_doctor(sb: Sandbox, *, last: bool = False) -> str:
    doctors = sorted((d for d in sb.prescriptions.doctors() if d["colegiaturaValida"]), key=lambda d: d["cmp"])
    return doctors[-1 if last else 0]["cmp"]


def catalogue_line(sb: Sandbox, product_id: int, nombre: str | None = None, cantidad: int = 1) -> dict:
    return {"id": product_id, "nombre": nombre or sb.products.get(product_id)["nombre"], "cantidad": cantidad}


def add_prescription(sb: Sandbox, **overrides) -> dict:
    """A prescription that passes every check, with `overrides` for the one under test."""
    fields = {"paciente_dni": CUSTOMER_DNI, "medico_cmp": valid_doctor(sb), "fecha_emision": days_ago(3),
              "productos": [catalogue_line(sb, 40)], **overrides}
    return sb.prescriptions.add(**fields)


def seed_prescription(sb: Sandbox, predicate: Callable[[dict], bool]) -> dict:
    """A seeded pending prescription, found by its properties rather than by a hard-coded id."""
    found = [r for r in sb.prescriptions.all() if r["estadoValidacion"] == "pendiente" and predicate(r)]
    assert found, "the seed has no prescription with these properties"
    return found[0]


def age_in_days(receta: dict) -> int:
    issued = dt.datetime.fromisoformat(receta["fechaEmision"].replace("Z", "+00:00"))
    return (dt.datetime.now(LIMA).date() - issued.date()).days


def products_ok(sb: Sandbox, receta: dict) -> bool:
    return all(sb.products.get(line["id"]) and names_match(line["nombre"], sb.products.get(line["id"])["nombre"])
               for line in receta["productos"])


def doctor_valid(sb: Sandbox, receta: dict) -> bool | None:
    doctor = sb.prescriptions.doctor(receta["medicoCMP"])
    return doctor["colegiaturaValida"] if doctor else None


def checks(response) -> dict[str, bool]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["details"]["code"] == "receta_invalida"
    return {name: check["ok"] for name, check in body["details"]["validaciones"].items()}


def state(sb: Sandbox, rid: str) -> str:
    return sb.prescriptions.get(rid)["estadoValidacion"]


def writes(sb: Sandbox) -> list[tuple[str, str]]:
    return [(method, path) for method, path in sb.requests("recetas") if method == "PUT"]


@pytest.fixture
def own_sandbox(settings) -> Iterator[Callable[..., Sandbox]]:
    """Start a Sandbox of another deployment variant on free ports, pointed at; stopped after."""
    started: list[Sandbox] = []

    def start(**variant) -> Sandbox:
        sb = Sandbox(host="127.0.0.1", **variant).start()
        started.append(sb)
        settings.URL_USUARIOS_COMPRAS = sb.urls["usuarios"]
        settings.URL_PRODUCTOS_OFERTAS = sb.urls["productos"]
        settings.URL_RECETAS_MEDICOS = sb.urls["recetas"]
        reset_sessions()
        return sb

    yield start
    for sb in started:
        sb.stop()
    reset_sessions()


def test_approval_of_a_valid_prescription_changes_its_state(client, sandbox):
    receta = add_prescription(sandbox)
    response = approve(client, sandbox, receta["_id"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mensaje"] == "Receta validada y actualizada exitosamente"
    assert body["receta"]["_id"] == receta["_id"] and body["receta"]["estadoValidacion"] == "validada"
    assert body["validaciones"] == {"productos_validados": 1, "medico_valido": True, "paciente_valido": True,
                                    "vigente": True}
    assert state(sandbox, receta["_id"]) == "validada"


def test_approval_of_a_seeded_prescription_with_an_unlicensed_doctor_is_refused(client, sandbox):
    receta = seed_prescription(sandbox, lambda r: doctor_valid(sandbox, r) is False
                               and 0 <= age_in_days(r) <= VALIDITY_DAYS and products_ok(sandbox, r))
    response = approve(client, sandbox, receta["_id"])
    assert checks(response) == {"productos": True, "medico": False, "paciente": True, "vigencia": True}
    assert "colegiatura" in response.json()["details"]["validaciones"]["medico"]["mensaje"]
    assert state(sandbox, receta["_id"]) == "pendiente"
    assert not writes(sandbox)


def test_approval_of_an_unregistered_doctor_is_refused(client, sandbox):
    receta = add_prescription(sandbox, medico_cmp="CMP999999")
    assert checks(approve(client, sandbox, receta["_id"]))["medico"] is False


def test_approval_of_a_seeded_expired_prescription_is_refused(client, sandbox):
    receta = seed_prescription(sandbox, lambda r: age_in_days(r) > VALIDITY_DAYS + 1
                               and doctor_valid(sandbox, r) and products_ok(sandbox, r))
    response = approve(client, sandbox, receta["_id"])
    assert checks(response) == {"productos": True, "medico": True, "paciente": True, "vigencia": False}
    assert state(sandbox, receta["_id"]) == "pendiente"
    assert not writes(sandbox)


def test_approval_of_a_future_dated_prescription_is_refused(client, sandbox):
    receta = add_prescription(sandbox, fecha_emision=days_ago(-5))
    assert checks(approve(client, sandbox, receta["_id"]))["vigencia"] is False


def test_approval_of_a_seeded_prescription_with_an_unknown_product_is_refused(client, sandbox):
    receta = seed_prescription(sandbox, lambda r: any(sandbox.products.get(line["id"]) is None
                                                      for line in r["productos"]))
    response = approve(client, sandbox, receta["_id"])
    result = checks(response)
    assert result["productos"] is False
    assert result == {"productos": False, "medico": doctor_valid(sandbox, receta) is True, "paciente": True,
                      "vigencia": 0 <= age_in_days(receta) <= VALIDITY_DAYS}
    assert state(sandbox, receta["_id"]) == "pendiente"


def test_approval_of_an_unregistered_patient_is_refused(client, sandbox):
    receta = add_prescription(sandbox, paciente_dni="99999999")
    assert checks(approve(client, sandbox, receta["_id"])) == {
        "productos": True, "medico": True, "paciente": False, "vigencia": True}


def test_approval_accepts_a_name_differing_only_in_case_and_accents(client, sandbox):
    scanned = [catalogue_line(sandbox, 40, "  AMOXICILÍNA   500MG"),
               catalogue_line(sandbox, 41, "amoxicilina + acido clavulanico 875/125mg")]
    receta = add_prescription(sandbox, productos=scanned)
    response = approve(client, sandbox, receta["_id"])
    assert response.status_code == 200, response.content
    assert response.json()["validaciones"]["productos_validados"] == 2
    assert state(sandbox, receta["_id"]) == "validada"


def test_approval_fetches_each_product_once(client, sandbox):
    receta = add_prescription(sandbox, productos=[catalogue_line(sandbox, 40), catalogue_line(sandbox, 41),
                                                  catalogue_line(sandbox, 40, cantidad=2)])
    assert approve(client, sandbox, receta["_id"]).status_code == 200
    fetched = [path for method, path in sandbox.requests("productos") if method == "GET"]
    assert sorted(fetched) == ["/api/productos/40", "/api/productos/41"]


def test_rejection_with_a_motivo(client, sandbox):
    receta = seed_prescription(sandbox, lambda r: True)
    response = client.put(f"/api/orchestrator/recetas/estado/{receta['_id']}",
                          data={"estadoValidacion": "rechazada", "motivo": "Firma ilegible"},
                          content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {sandbox.token_for(ADMIN_DNI)}")
    assert response.status_code == 200, response.content
    assert response.json()["mensaje"] == "Receta actualizada a RECHAZADA"
    assert response.json()["motivo"] == "Firma ilegible"
    assert state(sandbox, receta["_id"]) == "rechazada"


def test_a_customer_cannot_approve_their_own_prescription(client, sandbox):
    receta = add_prescription(sandbox, paciente_dni=CUSTOMER_DNI)
    for route in ("estado", "validar"):
        response = approve(client, sandbox, receta["_id"], dni=CUSTOMER_DNI, route=route)
        assert response.status_code == 403
    assert state(sandbox, receta["_id"]) == "pendiente"
    assert not writes(sandbox)


def test_unknown_prescription_is_404(client, sandbox):
    response = approve(client, sandbox, "0123456789abcdef01234567")
    assert response.status_code == 404


def test_approval_reads_the_doctors_registry_when_the_filter_ignores_cmp(client, own_sandbox):
    sb = own_sandbox(doctors_filter_ignores_cmp=True)
    # The last valid doctor by name is past the first page of 100 when the filter returns everyone by name.
    last_by_name = max((d for d in sb.prescriptions.doctors() if d["colegiaturaValida"]),
                       key=lambda d: (d["nombre"], d["cmp"]))
    receta = add_prescription(sb, medico_cmp=last_by_name["cmp"])
    response = approve(client, sb, receta["_id"])
    assert response.status_code == 200, response.content
    assert state(sb, receta["_id"]) == "validada"
    assert len([path for _, path in sb.requests("recetas") if path == "/api/medicos/filter"]) >= 2


def test_refusal_still_right_when_the_filter_ignores_cmp(client, own_sandbox):
    sb = own_sandbox(doctors_filter_ignores_cmp=True)
    unlicensed = sorted(d["cmp"] for d in sb.prescriptions.doctors() if not d["colegiaturaValida"])[-1]
    receta = add_prescription(sb, medico_cmp=unlicensed)
    assert checks(approve(client, sb, receta["_id"]))["medico"] is False
    assert state(sb, receta["_id"]) == "pendiente"


def test_approval_falls_back_to_the_validar_route(client, own_sandbox):
    sb = own_sandbox(validar_route_only=True)
    receta = add_prescription(sb)
    response = approve(client, sb, receta["_id"], route="validar")
    assert response.status_code == 200, response.content
    assert response.json()["receta"]["estadoValidacion"] == "validada"
    assert state(sb, receta["_id"]) == "validada"
    rid = receta["_id"]
    assert writes(sb) == [("PUT", f"/api/recetas/estado/{rid}"), ("PUT", f"/api/recetas/{rid}/validar")]
