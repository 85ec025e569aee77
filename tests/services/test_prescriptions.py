"""The prescription checks, the dry run and the state change, against mocked upstreams."""
from __future__ import annotations

import datetime as dt
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from dashboard.clients import upstreams_for
from dashboard.errors import (
    BadRequest,
    NotFound,
    PermissionDenied,
    PrescriptionInvalid,
    UpstreamRejected,
    UpstreamUnavailable,
)
from dashboard.services import prescriptions as service
from dashboard.services.prescriptions import LIMA, parse_state_change, validity_check
from dashboard.types import User
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import doctor_payload, page, prescription_payload, product_payload, user_payload

RID = "68f7c2e4a1b2c3d4e5f60718"
ADMIN = User.from_wire(user_payload("40123456", role="ADMIN", nombre="Rosa", apellido="Huamán"))
ANA = User.from_wire(user_payload("72345678"))
AMOXICILINA = product_payload(40, nombre="Amoxicilina 500mg", requiere_receta=True)
IBUPROFENO = product_payload(8, nombre="Ibuprofeno 400mg")


def mock_prescription(mocked, **kw) -> dict:
    body = prescription_payload(RID, **kw)
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/{RID}", json=body)
    return body


def mock_world(mocked, *, receta: dict | None = None, products=(AMOXICILINA,), doctors=None, users=None) -> dict:
    """A prescription whose every check passes unless told otherwise."""
    receta = receta if receta is not None else {}
    body = mock_prescription(mocked, **receta)
    for product in products:
        mocked.get(f"{PRODUCTS}/api/productos/{product['id']}", json=product)
    mocked.get(f"{PRESCRIPTIONS}/api/medicos/filter",
               json=page(doctors if doctors is not None else [doctor_payload(body["medicoCMP"])], size_key="limit"))
    mocked.get(f"{USERS}/api/user/all", json=users if users is not None else [
        user_payload("40123456", role="ADMIN"), user_payload(body["pacienteDNI"])])
    return body


def review(caller: User = ADMIN) -> service.PrescriptionReview:
    return service.prescription_review(upstreams=upstreams_for("t.t.t"), caller=caller, receta_id=RID)


def set_state(estado: str, caller: User = ADMIN, motivo: str | None = None) -> dict:
    return service.prescription_set_state(upstreams=upstreams_for("t.t.t"), caller=caller, receta_id=RID,
                                          estado=estado, motivo=motivo)


def calls_to(mocked, method: str, path: str) -> list:
    return [c for c in mocked.calls if c.request.method == method and urlsplit(c.request.url).path == path]


# parse_state_change ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [{"estadovalidacion": "VALIDADA"}, {"estadoValidacion": "validada"},
                                  {"estado": " Validada "}])
def test_parse_state_change_accepts_each_key_in_any_case(body):
    assert parse_state_change(body) == ("VALIDADA", None)


@pytest.mark.parametrize("body", [{"estado": "aprobada"}, {"estado": 1}, {"estado": None}, {}, [], "VALIDADA",
                                  {"estado": "VALIDADA", "estadovalidacion": "RECHAZADA"}])
def test_parse_state_change_refuses_anything_else(body):
    with pytest.raises(BadRequest):
        parse_state_change(body)


def test_parse_state_change_uses_the_default_for_an_empty_body():
    assert parse_state_change(None, default_estado="VALIDADA") == ("VALIDADA", None)
    assert parse_state_change({}, default_estado="VALIDADA") == ("VALIDADA", None)


def test_parse_state_change_returns_the_motivo():
    assert parse_state_change({"estado": "rechazada", "motivo": " Ilegible "}) == ("RECHAZADA", "Ilegible")


def test_parse_state_change_refuses_a_motivo_over_500_chars():
    assert parse_state_change({"estado": "RECHAZADA", "motivo": "x" * 500})[1] == "x" * 500
    with pytest.raises(BadRequest):
        parse_state_change({"estado": "RECHAZADA", "motivo": "x" * 501})


# The review: every check ---------------------------------------------------------------------------
def test_review_passes_when_every_check_passes(mocked):
    mock_world(mocked)
    result = review()
    assert result.ok
    assert result.validaciones().keys() == {"productos", "medico", "paciente", "vigencia"}
    assert all(v["ok"] and v["mensaje"] for v in result.validaciones().values())
    assert result.productos.data["items"] == [{
        "producto_id": 40, "nombre_receta": "Amoxicilina 500mg", "cantidad": 2, "encontrado": True,
        "nombre_catalogo": "Amoxicilina 500mg", "coincide": True, "requiere_receta": True,
        "mensaje": "Producto verificado"}]
    assert result.medico.data == {"cmp": "CMP100001", "nombre": "Dr. Lorena Chávez", "especialidad": "Neurología",
                                  "colegiatura_valida": True, "encontrado": True}
    assert result.paciente.data == {"dni": "72345678", "nombre": "Ana Quispe", "registrado": True}


def test_review_writes_nothing(mocked):
    mock_world(mocked)
    review()
    assert all(c.request.method == "GET" for c in mocked.calls)


def test_review_fails_products_for_an_unknown_product(mocked):
    mock_world(mocked, receta={"productos": [(40, "Amoxicilina 500mg", 1), (9999, "Medicamento X", 1)]})
    mocked.get(f"{PRODUCTS}/api/productos/9999", json={"detail": "Producto no encontrado"}, status=404)
    result = review()
    assert not result.ok and not result.productos.ok
    unknown = result.productos.data["items"][1]
    assert unknown["encontrado"] is False and unknown["nombre_catalogo"] is None and unknown["requiere_receta"] is None
    assert "9999" in result.productos.mensaje
    assert result.medico.ok and result.paciente.ok and result.vigencia.ok


def test_review_fails_products_for_a_line_without_id(mocked):
    mock_world(mocked, receta={"productos": [(40, "Amoxicilina 500mg", 1)]})
    body = prescription_payload(RID)
    body["productos"].append({"nombre": "Sin código", "cantidad": 1, "_id": "f" * 24})
    mocked.replace(responses.GET, f"{PRESCRIPTIONS}/api/recetas/{RID}", json=body)
    result = review()
    assert not result.productos.ok
    assert result.productos.data["items"][1]["encontrado"] is False
    assert len(calls_to(mocked, "GET", "/api/productos/40")) == 1


def test_review_fails_products_for_a_different_name(mocked):
    mock_world(mocked, receta={"productos": [(40, "Amoxicilina 250mg", 1)]})
    result = review()
    assert not result.productos.ok
    assert result.productos.data["items"][0]["encontrado"] is True
    assert result.productos.data["items"][0]["coincide"] is False


def test_review_accepts_a_name_differing_in_case_accents_and_spaces(mocked):
    mock_world(mocked, receta={"productos": [(40, "  AMOXICILÍNA   500MG ", 1)]})
    assert review().productos.ok


def test_review_fails_products_for_a_prescription_without_products(mocked):
    mock_world(mocked, receta={"productos": []}, products=())
    result = review()
    assert not result.productos.ok and result.productos.data["items"] == []


def test_review_fetches_every_distinct_product_once(mocked):
    lines = [(40, "Amoxicilina 500mg", 1), (8, "Ibuprofeno 400mg", 1), (40, "AMOXICILINA 500MG", 2)]
    mock_world(mocked, receta={"productos": lines}, products=(AMOXICILINA, IBUPROFENO))
    assert review().productos.ok
    assert len(calls_to(mocked, "GET", "/api/productos/40")) == 1
    assert len(calls_to(mocked, "GET", "/api/productos/8")) == 1


def test_review_fails_the_doctor_when_not_registered(mocked):
    mock_world(mocked, doctors=[])
    result = review()
    assert not result.ok and not result.medico.ok
    assert result.medico.data["encontrado"] is False and result.medico.data["colegiatura_valida"] is None
    assert result.productos.ok and result.paciente.ok and result.vigencia.ok


def test_review_fails_the_doctor_without_a_valid_licence(mocked):
    mock_world(mocked, doctors=[doctor_payload("CMP100001", valida=False)])
    result = review()
    assert not result.medico.ok
    assert result.medico.data["encontrado"] is True and result.medico.data["colegiatura_valida"] is False


def test_review_matches_the_exact_cmp_only(mocked):
    mock_world(mocked, doctors=[doctor_payload("CMP1000010"), doctor_payload("cmp100001")])
    assert not review().medico.ok


def registry_service(mocked, pages_by_pass: list[dict[str, dict]]) -> list[int]:
    """The doctors filter ignoring `cmp` (the newest generation): every call answers the registry's
    page; `pages_by_pass[n]` is what the n-th read of the registry sees. Returns a pass counter."""
    passes = [0]

    def answer(request):
        query = parse_qs(urlsplit(request.url).query)
        number = query["page"][0]
        if query.get("sort") == ["cmp"] and number == "1":
            passes[0] += 1
        pages = pages_by_pass[min(max(passes[0], 1), len(pages_by_pass)) - 1]
        return 200, {}, json.dumps(pages[number])

    mocked.remove(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter")
    mocked.add_callback(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter", callback=answer)
    return passes


OTHERS = [doctor_payload(f"CMP2{n:05d}") for n in range(100)]
TWO_PAGES = {"1": page(OTHERS, total=150, size_key="limit"),
             "2": page([*(doctor_payload(f"CMP3{n:05d}") for n in range(49)), doctor_payload("CMP100001")], page=2,
                       total=150, size_key="limit")}


def doctor_queries(mocked) -> list[dict]:
    return [parse_qs(urlsplit(c.request.url).query) for c in calls_to(mocked, "GET", "/api/medicos/filter")]


def test_review_reads_the_registry_when_the_filter_ignores_cmp(mocked):
    mock_world(mocked)
    registry_service(mocked, [TWO_PAGES])
    assert review().medico.ok
    queries = doctor_queries(mocked)
    assert queries[0]["cmp"] == ["CMP100001"]  # the filter is tried first
    assert sorted(q["page"][0] for q in queries[1:]) == ["1", "2"]
    assert all(q["sort"] == ["cmp"] for q in queries[1:])  # a unique sort, where honoured


def test_review_reads_the_registry_once_for_several_checks(mocked):
    mock_world(mocked)
    registry_service(mocked, [TWO_PAGES])
    review()
    review()
    assert len(doctor_queries(mocked)) == 1 + 2 + 1  # the second review: its `cmp=` call only


def test_review_rereads_the_registry_when_a_skipping_sort_lost_a_doctor(mocked):
    mock_world(mocked)
    # First read: the non-unique sort repeated a doctor on page 2 and skipped CMP100001.
    skipped = {"1": TWO_PAGES["1"], "2": page([*OTHERS[:50]], page=2, total=150, size_key="limit")}
    passes = registry_service(mocked, [skipped, TWO_PAGES])
    assert review().medico.ok
    assert passes[0] == 2


def test_review_never_calls_a_doctor_unregistered_from_an_incomplete_registry(mocked):
    mock_world(mocked)
    skipped = {"1": TWO_PAGES["1"], "2": page([*OTHERS[:50]], page=2, total=150, size_key="limit")}
    passes = registry_service(mocked, [skipped])
    result = service.prescription_review(upstreams=upstreams_for("t.t.t"), caller=ADMIN, receta_id=RID,
                                         tolerate_outages=True)
    assert not result.medico.ok and result.medico.data.get("no_verificado") is True
    assert "registro completo de médicos" in result.medico.mensaje
    assert passes[0] >= service.REGISTRY_MAX_PASSES


def test_review_finds_a_doctor_that_paging_always_skips_by_reading_each_specialty(mocked):
    mock_world(mocked)
    everyone = [*OTHERS, *(doctor_payload(f"CMP3{n:05d}") for n in range(49)), doctor_payload("CMP100001")]
    for n, doctor in enumerate(everyone):
        doctor["especialidad"] = ("Pediatría", "Cardiología", "Neurología")[n % 3]
    full_reads_skip = {"1": page(everyone[:100], total=150, size_key="limit"),
                       "2": page(everyone[:50], page=2, total=150, size_key="limit")}

    def answer(request):
        query = parse_qs(urlsplit(request.url).query)
        if "especialidad" in query:  # one specialty: 50 doctors, one page, nothing to skip
            part = [d for d in everyone if d["especialidad"] == query["especialidad"][0]]
            return 200, {}, json.dumps(page(part, size_key="limit"))
        return 200, {}, json.dumps(full_reads_skip[query["page"][0]])

    mocked.remove(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter")
    mocked.add_callback(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter", callback=answer)
    assert review().medico.ok
    asked = sorted(q["especialidad"][0] for q in doctor_queries(mocked) if "especialidad" in q)
    assert asked == ["Cardiología", "Neurología", "Pediatría"]


def test_review_rereads_a_registry_that_is_not_recent_before_saying_unregistered(mocked, monkeypatch):
    mock_world(mocked, receta={"cmp": "CMP999999"})
    registry_service(mocked, [TWO_PAGES])
    assert not review().medico.ok  # read fresh: truly not registered
    monkeypatch.setattr(service, "REGISTRY_TRUST_SECONDS", -1)
    assert not review().medico.ok
    assert [q["page"] for q in doctor_queries(mocked)].count(["1"]) == 2 + 2  # `cmp=` + registry, twice


def test_review_stops_at_the_registry_bound_as_could_not_check(mocked):
    mock_world(mocked, doctors=OTHERS)
    mocked.replace(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter",
                   json=page(OTHERS, total=10_000, size_key="limit"))
    result = service.prescription_review(upstreams=upstreams_for("t.t.t"), caller=ADMIN, receta_id=RID,
                                         tolerate_outages=True)
    assert not result.medico.ok and result.medico.data.get("no_verificado") is True
    assert len(calls_to(mocked, "GET", "/api/medicos/filter")) == 2  # bounded: no page past the first is read


def test_review_fails_the_patient_when_not_registered(mocked):
    mock_world(mocked, users=[user_payload("40123456", role="ADMIN")])
    result = review()
    assert not result.ok and not result.paciente.ok
    assert result.paciente.data == {"dni": "72345678", "nombre": None, "registrado": False}
    assert result.productos.ok and result.medico.ok and result.vigencia.ok


def test_review_of_a_customers_own_prescription_does_not_ask_for_all_users(mocked):
    mock_world(mocked)
    result = review(caller=ANA)
    assert result.paciente.ok and result.paciente.data["nombre"] == "Ana Quispe"
    assert not calls_to(mocked, "GET", "/api/user/all")


def test_review_of_someone_elses_prescription_is_not_found_for_a_customer(mocked):
    mock_world(mocked, receta={"dni": "70112233"})
    with pytest.raises(NotFound):
        review(caller=ANA)


def test_review_fails_validity_when_expired(mocked):
    mock_world(mocked, receta={"days_ago": 45})
    result = review()
    assert not result.ok and not result.vigencia.ok
    assert result.vigencia.data["dias_transcurridos"] == 45 and result.vigencia.data["dias_restantes"] == 0
    assert result.productos.ok and result.medico.ok and result.paciente.ok


def test_review_fails_validity_when_issued_in_the_future(mocked):
    mock_world(mocked, receta={"days_ago": -3})
    result = review()
    assert not result.vigencia.ok and "futuro" in result.vigencia.mensaje


def test_review_passes_an_unknown_prescription_404_through(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/{RID}", json={"error": "Receta no encontrada"}, status=404)
    with pytest.raises(UpstreamRejected) as caught:
        review()
    assert caught.value.status == 404


class InFlight:
    """Mock callbacks that record how many calls are in flight at once.

    Each call waits at a barrier for the others, so calls that really overlap all get counted
    together; the barrier's timeout only keeps a sequential implementation from hanging the test.
    """

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=2)
        self.lock = threading.Lock()
        self.now = self.max = 0

    def answer(self, payload):
        def callback(request):
            with self.lock:
                self.now += 1
                self.max = max(self.max, self.now)
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                pass
            with self.lock:
                self.now -= 1
            return 200, {}, json.dumps(payload)
        return callback


def mock_overlapping(mocked, products: tuple[dict, ...]) -> InFlight:
    body = mock_prescription(mocked, productos=[(p["id"], p["nombre"], 1) for p in products])
    flight = InFlight(2 + len(products))
    for product in products:
        mocked.add_callback(responses.GET, f"{PRODUCTS}/api/productos/{product['id']}", callback=flight.answer(product))
    mocked.add_callback(responses.GET, f"{PRESCRIPTIONS}/api/medicos/filter",
                        callback=flight.answer(page([doctor_payload(body["medicoCMP"])], size_key="limit")))
    mocked.add_callback(responses.GET, f"{USERS}/api/user/all", callback=flight.answer([user_payload()]))
    return flight


def test_review_runs_the_doctor_patient_and_product_checks_concurrently(mocked):
    flight = mock_overlapping(mocked, (AMOXICILINA,))
    assert review().ok
    assert flight.max == 3


def test_review_fetches_the_products_concurrently(mocked):
    flight = mock_overlapping(mocked, (AMOXICILINA, IBUPROFENO, product_payload(12, nombre="Producto 12")))
    assert review().ok
    assert flight.max == 5


# validity_check (day arithmetic in Lima) -----------------------------------------------------------
def _utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_validity_check_counts_calendar_days_in_lima():
    # 03:00 UTC on the 16th is still the 15th in Lima: the prescription of the 15th is 0 days old.
    check = validity_check(_utc(2025, 10, 15), now=_utc(2025, 10, 16, 3), validity_days=30)
    assert check.ok and check.data["dias_transcurridos"] == 0 and check.data["dias_restantes"] == 30
    assert check.data["fecha_emision"] == dt.datetime(2025, 10, 15, tzinfo=LIMA)
    assert check.data["vence"] == dt.datetime(2025, 11, 14, 23, 59, 59, tzinfo=LIMA)


def test_validity_check_is_valid_on_its_last_day_and_expired_the_next():
    issued = _utc(2025, 10, 15)
    assert validity_check(issued, now=_utc(2025, 11, 14, 20), validity_days=30).ok
    expired = validity_check(issued, now=_utc(2025, 11, 15, 20), validity_days=30)
    assert not expired.ok and expired.data["dias_restantes"] == 0 and "14/11/2025" in expired.mensaje


def test_validity_check_reads_a_timed_emission_on_limas_calendar():
    # 02:00 UTC on the 16th was 21:00 on the 15th in Lima.
    check = validity_check(_utc(2025, 10, 16, 2), now=_utc(2025, 10, 20, 12), validity_days=30)
    assert check.data["fecha_emision"].date() == dt.date(2025, 10, 15)


def test_validity_check_refuses_tomorrow():
    assert not validity_check(_utc(2025, 10, 16), now=_utc(2025, 10, 15, 12), validity_days=30).ok


def test_validity_check_uses_the_configured_days(settings):
    settings.RECETA_VALIDEZ_DIAS = 5
    assert not validity_check(_utc(2025, 10, 1), now=_utc(2025, 10, 7, 12)).ok


# prescription_set_state -----------------------------------------------------------------------------
def test_set_state_validada_writes_and_answers_the_spec_body(mocked):
    body = mock_world(mocked, receta={"productos": [(40, "Amoxicilina 500mg", 1), (8, "Ibuprofeno 400mg", 1)]},
                      products=(AMOXICILINA, IBUPROFENO))
    updated = {**body, "estadoValidacion": "validada", "updatedAt": "2025-10-22T00:00:00.000Z"}
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", json={"mensaje": "ok", "receta": updated})
    result = set_state("VALIDADA")
    assert result == {"mensaje": "Receta validada y actualizada exitosamente", "receta": updated,
                      "validaciones": {"productos_validados": 2, "medico_valido": True, "paciente_valido": True,
                                       "vigente": True}}
    put = calls_to(mocked, "PUT", f"/api/recetas/estado/{RID}")
    assert [json.loads(c.request.body) for c in put] == [{"estadoValidacion": "validada"}]


def test_set_state_validada_refused_writes_nothing(mocked):
    mock_world(mocked, receta={"days_ago": 45}, doctors=[])
    with pytest.raises(PrescriptionInvalid) as caught:
        set_state("VALIDADA")
    error = caught.value.as_dict()
    assert error["error"] == "La receta no superó la validación"
    assert error["details"]["code"] == "receta_invalida"
    validaciones = error["details"]["validaciones"]
    assert {k: v["ok"] for k, v in validaciones.items()} == {
        "productos": True, "medico": False, "paciente": True, "vigencia": False}
    assert all(c.request.method == "GET" for c in mocked.calls)


def test_set_state_validada_with_the_products_service_down_is_503_without_write(mocked):
    mock_world(mocked, products=())
    mocked.get(f"{PRODUCTS}/api/productos/40", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable):
        set_state("VALIDADA")
    assert all(c.request.method == "GET" for c in mocked.calls)


def test_set_state_validada_falls_back_to_the_validar_route(mocked):
    body = mock_world(mocked)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body="<pre>Cannot PUT</pre>", status=404,
               content_type="text/html")
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/{RID}/validar",
               json={"mensaje": "Receta validada correctamente", "receta": {**body, "estadoValidacion": "validada"}})
    result = set_state("VALIDADA")
    assert result["receta"]["estadoValidacion"] == "validada"
    assert len(calls_to(mocked, "PUT", f"/api/recetas/{RID}/validar")) == 1


def test_set_state_rechazada_skips_the_checks_and_echoes_the_motivo(mocked):
    body = mock_prescription(mocked, days_ago=90)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}",
               json={"mensaje": "ok", "receta": {**body, "estadoValidacion": "rechazada"}})
    result = set_state("RECHAZADA", motivo="Receta ilegible")
    assert result["mensaje"] == "Receta actualizada a RECHAZADA"
    assert result["motivo"] == "Receta ilegible" and result["receta"]["estadoValidacion"] == "rechazada"
    assert json.loads(calls_to(mocked, "PUT", f"/api/recetas/estado/{RID}")[0].request.body) == {
        "estadoValidacion": "rechazada"}
    assert [urlsplit(c.request.url).path for c in mocked.calls] == [f"/api/recetas/{RID}", f"/api/recetas/estado/{RID}"]


def test_set_state_pendiente_answers_without_motivo(mocked):
    body = mock_prescription(mocked, estado="rechazada")
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", json={"mensaje": "ok", "receta": body | {
        "estadoValidacion": "pendiente"}})
    result = set_state("PENDIENTE", motivo="ignored")
    assert result["mensaje"] == "Receta actualizada a PENDIENTE" and "motivo" not in result


def test_set_state_rechazada_of_an_unknown_prescription_is_404_without_write(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/{RID}", json={"error": "Receta no encontrada"}, status=404)
    with pytest.raises(UpstreamRejected) as caught:
        set_state("RECHAZADA")
    assert caught.value.status == 404
    assert not calls_to(mocked, "PUT", f"/api/recetas/estado/{RID}")


def test_set_state_is_admin_only(mocked):
    with pytest.raises(PermissionDenied):
        set_state("VALIDADA", caller=ANA)
    assert not mocked.calls


def test_set_state_refuses_a_malformed_id_without_upstream_calls(mocked):
    with pytest.raises(BadRequest):
        service.prescription_set_state(upstreams=upstreams_for("t"), caller=ADMIN, receta_id="../x", estado="VALIDADA")
    assert not mocked.calls


# prescriptions_list -----------------------------------------------------------------------------------
def test_prescriptions_list_forces_a_customers_own_dni(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/filter", json=page([prescription_payload()]))
    service.prescriptions_list(upstreams=upstreams_for("t"), caller=ANA, dni="70112233", estado="VALIDADA")
    query = parse_qs(urlsplit(mocked.calls[0].request.url).query)
    assert query["dni"] == ["72345678"] and query["estado"] == ["validada"]


def test_prescriptions_list_lets_an_admin_filter_by_dni_and_cmp(mocked):
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/filter", json=page([prescription_payload()]))
    result = service.prescriptions_list(upstreams=upstreams_for("t"), caller=ADMIN, dni="70112233", cmp="CMP100001",
                                        page=2, pagesize=10)
    query = parse_qs(urlsplit(mocked.calls[0].request.url).query)
    assert query == {"dni": ["70112233"], "cmp": ["CMP100001"], "page": ["2"], "pagesize": ["10"]}
    assert result.items[0].id == RID


@pytest.mark.parametrize("kwargs", [{"dni": "7234"}, {"cmp": "CMP 1; x"}, {"estado": "aprobada"}, {"page": 0},
                                    {"pagesize": 101}])
def test_prescriptions_list_refuses_bad_filters(mocked, kwargs):
    with pytest.raises(BadRequest):
        service.prescriptions_list(upstreams=upstreams_for("t"), caller=ADMIN, **kwargs)
    assert not mocked.calls


def test_review_tolerating_outages_marks_only_the_failed_check(mocked):
    mock_world(mocked, products=())
    mocked.get(f"{PRODUCTS}/api/productos/40", body=requests.exceptions.ConnectionError("refused"))
    result = service.prescription_review(upstreams=upstreams_for("t.t.t"), caller=ADMIN, receta_id=RID,
                                         tolerate_outages=True)
    assert not result.productos.ok and result.productos.data["no_verificado"]
    assert result.productos.mensaje == "No se pudo verificar: El servicio de productos no está disponible"
    assert result.medico.ok and result.paciente.ok
    assert result.advertencias == ("El servicio de productos no está disponible",)


def test_review_without_tolerance_raises_the_outage(mocked):
    mock_world(mocked, products=())
    mocked.get(f"{PRODUCTS}/api/productos/40", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable):
        review()
