"""Fault injection end to end: the orchestrator (in process) against the sandbox misbehaving on purpose.

Every case asserts the documented status, `details.servicio` and the Spanish message, and that
nothing is lost: stock unchanged or given back, no purchase half-registered, no prescription state
changed. `fault_matrix()` lists every (route, upstream, fault) case with the status it must get;
`python -m tests.integration.test_faults` prints it as a table.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

import pytest
from django.test import Client

from dashboard.clients import UsersClient
from dashboard.clients.breakers import CLOSED, HALF_OPEN, OPEN, breaker_state, reset_breakers
from dashboard.errors import SERVICE_PRESCRIPTIONS, SERVICE_PRODUCTS, SERVICE_USERS
from dashboard.services.purchase_saga import saga as saga_module
from sandbox import DEMO_LOGINS, Sandbox

pytestmark = pytest.mark.integration

ADMIN_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "ADMIN")
ANA_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
API = "/api/orchestrator"
PARACETAMOL, AMOXICILINA = 1, 40  # Amoxicilina needs a prescription; Ana has a validated one for 2 units
CART = [(PARACETAMOL, 2), (AMOXICILINA, 1)]
READ_TIMEOUT = 0.5
# Sandbox service -> the name in `details.servicio` and the word in the Spanish message.
SERVICES = {"usuarios": (SERVICE_USERS, "usuarios"), "productos": (SERVICE_PRODUCTS, "productos"),
            "recetas": (SERVICE_PRESCRIPTIONS, "recetas")}
MESSAGES = {503: "El servicio de %s no está disponible", 504: "El servicio de %s no respondió a tiempo",
            502: "El servicio de %s respondió con un error"}

# Fault kind -> sandbox keywords. 500 is never retried, so `count` only needs to cover one request.
FAULTS = {
    "caido": {"down": True},
    "colgado": {"hang_seconds": 5},
    "error_5xx": {"fail": {"status": 500, "count": 1000}},
    "html": {"html_instead_of_json": True},
    "json_truncado": {"truncated_json": True},
    # Hostile upstreams: a body trickled a byte at a time (each gap far below the read timeout),
    # an answer over UPSTREAM_MAX_BYTES, and JSON that parses badly or breaks every type.
    "goteo": {"trickle_ms": 40},
    "goteo_cabeceras": {"trickle_ms": 40, "trickle_headers": True},
    "enorme": {"oversized_bytes": 3 * 1024 * 1024},
    "json_anidado": {"hostile_json": "anidado"},
    "json_nan": {"hostile_json": "nan"},
    "json_infinito": {"hostile_json": "infinito"},
    "json_nulos": {"hostile_json": "nulos"},
    "json_tipos": {"hostile_json": "tipos"},
}
FAULT_STATUS = {"caido": 503, "colgado": 504, "error_5xx": 502, "html": 502, "json_truncado": 502,
                "goteo": 504, "goteo_cabeceras": 504, "enorme": 502, "json_anidado": 502, "json_nan": 502,
                "json_infinito": 502, "json_nulos": 502, "json_tipos": 502}
# Faults answered 502 `respuesta_invalida` (a 200 whose body cannot be used).
INVALID_BODY = {"html", "json_truncado", "enorme", "json_anidado", "json_nan", "json_infinito", "json_nulos",
                "json_tipos"}
UPSTREAM_MAX_BYTES = 1024 * 1024
# These replace every number in a body: the users service's answers to /api/user/me and
# /api/user/all carry no number the orchestrator reads, its purchases do.
NUMBER_FAULTS = {"json_nan", "json_infinito", "json_nulos", "json_tipos"}
ROUTES = ["POST /compras", "GET /compras/me", "GET /compras/all", "PUT /recetas/estado/{id}", "GET /ready"]


def expected_status(route: str, service: str, fault: str) -> int:
    """The documented answer of `route` when `service` has `fault` (see orchestrator-api.md)."""
    if route == "GET /ready":
        # /ready asks for liveness only: an /echo that answers in time and size, whatever its body, is "up".
        return 503 if fault in ("caido", "colgado", "error_5xx", "goteo", "goteo_cabeceras", "enorme") else 200
    if route == "PUT /recetas/estado/{id}" and service == "usuarios" and fault in NUMBER_FAULTS:
        return 200
    if route in ("GET /compras/me", "GET /compras/all") and service != "usuarios":
        # Listings degrade: products down -> lines marked unavailable plus a warning; prescriptions unused.
        return 200
    return FAULT_STATUS[fault]


def fault_matrix() -> list[tuple[str, str, str, int]]:
    # A purchase whose registration answers hostile JSON was made upstream: tested on its own below.
    return [(route, service, fault, expected_status(route, service, fault))
            for route in ROUTES for service in SERVICES for fault in FAULTS
            if not (route == "POST /compras" and service == "usuarios" and fault in NUMBER_FAULTS)]


# Helpers -------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """What a failed request must leave as it was."""

    stock: dict[int, int]
    purchases: int
    prescription_state: str | None

    @classmethod
    def take(cls, sb: Sandbox, receta_id: str | None = None) -> Snapshot:
        return cls(stock={pid: sb.products.get(pid)["stock"] for pid, _ in CART},
                   purchases=len(sb.users.purchases(ANA_DNI)),
                   prescription_state=sb.prescriptions.get(receta_id)["estadoValidacion"] if receta_id else None)


def approvable_prescription(sb: Sandbox) -> str:
    """A pending prescription of Ana's that passes every check (so only the fault can fail it)."""
    doctor = sorted((d for d in sb.prescriptions.doctors() if d["colegiaturaValida"]), key=lambda d: d["cmp"])[0]
    issued = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3), dt.time(0), dt.UTC)
    receta = sb.prescriptions.add(paciente_dni=ANA_DNI, medico_cmp=doctor["cmp"], fecha_emision=issued,
                                  productos=[{"id": AMOXICILINA, "nombre": sb.products.get(AMOXICILINA)["nombre"],
                                              "cantidad": 1}])
    return receta["_id"]


def bearer(sb: Sandbox, dni: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {sb.token_for(dni)}"}


def buy(client: Client, sb: Sandbox, items: list[tuple[int, int]] = CART):
    body = {"productos": [{"producto_id": p, "cantidad": c} for p, c in items]}
    return client.post(f"{API}/compras", data=json.dumps(body), content_type="application/json", **bearer(sb, ANA_DNI))


def request(client: Client, sb: Sandbox, route: str, receta_id: str):
    if route == "POST /compras":
        return buy(client, sb)
    if route == "GET /compras/me":
        return client.get(f"{API}/compras/me", **bearer(sb, ANA_DNI))
    if route == "GET /compras/all":
        return client.get(f"{API}/compras/all", **bearer(sb, ADMIN_DNI))
    if route == "PUT /recetas/estado/{id}":
        return client.put(f"{API}/recetas/estado/{receta_id}", data='{"estadovalidacion": "VALIDADA"}',
                          content_type="application/json", **bearer(sb, ADMIN_DNI))
    return client.get(f"{API}/ready")


def assert_upstream_error(response, status: int, service: str) -> dict:
    name, label = SERVICES[service]
    body = response.json()
    assert response.status_code == status, body
    assert body["details"]["servicio"] == name
    assert body["error"] == MESSAGES[status] % label
    return body


def writes(sb: Sandbox) -> list[tuple[str, str]]:
    return [r for service in SERVICES for r in sb.requests(service) if r[0] in ("PUT", "POST")]


@pytest.fixture
def faulty(sandbox, settings):
    """The sandbox with short timeouts, so a hanging upstream costs half a second."""
    settings.UPSTREAM_READ_TIMEOUT = READ_TIMEOUT
    settings.UPSTREAM_CONNECT_TIMEOUT = READ_TIMEOUT
    settings.READY_TIMEOUT = READ_TIMEOUT
    settings.UPSTREAM_MAX_BYTES = UPSTREAM_MAX_BYTES
    return sandbox


# The matrix: every route x every upstream x every fault ----------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_faults_baseline_without_faults_succeeds(client, faulty, route):
    receta_id = approvable_prescription(faulty)
    response = request(client, faulty, route, receta_id)
    assert response.status_code == (201 if route == "POST /compras" else 200), response.content
    assert "advertencias" not in response.json()


@pytest.mark.parametrize("route,service,fault,status", fault_matrix(),
                         ids=[f"{r}-{s}-{f}" for r, s, f, _ in fault_matrix()])
def test_faults_matrix_answers_the_documented_status_and_loses_nothing(client, faulty, route, service, fault,
                                                                       status):
    receta_id = approvable_prescription(faulty)
    before = Snapshot.take(faulty, receta_id)
    faulty.clear_requests()
    faulty.faults(service, **FAULTS[fault])
    started = time.monotonic()
    response = request(client, faulty, route, receta_id)
    elapsed = time.monotonic() - started
    faulty.clear_faults()

    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    if route == "GET /ready":
        assert response.status_code == status, body
        name = SERVICES[service][0]
        assert body["servicios"][name]["status"] == ("up" if status == 200 else "down")
        assert body["status"] == ("ready" if status == 200 else "degraded")
    elif status == 200:
        assert response.status_code == 200, body
        if service == "productos":
            assert body["advertencias"] == ["Servicio de productos no disponible: detalles incompletos"]
            assert all(line["error"] == "Producto no disponible"
                       for compra in body["compras"] for line in compra["productos_detalle"])
    else:
        body = assert_upstream_error(response, status, service)
        if status == 503:
            assert int(response["Retry-After"]) >= 1
        if fault in INVALID_BODY:
            assert body["details"]["code"] == "respuesta_invalida", body
    if fault in ("colgado", "goteo", "goteo_cabeceras"):
        # The one place where time is the behaviour: a hung or trickling upstream is cut at its
        # timeout (connect + read covers the whole answer), not after the whole trickled body.
        assert elapsed < 2 * READ_TIMEOUT + 2.0
    if route == "PUT /recetas/estado/{id}" and status == 200:
        return  # the approval went through, as it should: nothing to compare
    assert Snapshot.take(faulty, receta_id) == before
    assert writes(faulty) == []


# A failure at every step of the purchase flow ------------------------------------------------------------
class LocksArmingFault(saga_module.ProductLocks):
    """Injects a sandbox fault once the stock locks are taken: only reads made under the locks see it."""

    sandbox: Sandbox
    fault: dict

    def __enter__(self):
        locks = super().__enter__()
        self.sandbox.faults("productos", fail=self.fault)
        return locks


PURCHASE_STEPS = {
    # step -> (sandbox service, fail rule, armed once the locks are taken?)
    "lectura_de_producto": ("productos", {"method": "GET", "path": f"/api/productos/{AMOXICILINA}"}, False),
    "ofertas": ("productos", {"method": "GET", "path": "/api/ofertas/all"}, False),
    "lectura_de_recetas": ("recetas", {"method": "GET", "path": "/api/recetas/filter"}, False),
    "relectura_de_stock": ("productos", {"method": "GET", "path": f"/api/productos/{AMOXICILINA}"}, True),
    "escritura_de_stock_1": ("productos", {"method": "PUT", "path": f"/api/productos/{PARACETAMOL}"}, False),
    "escritura_de_stock_2": ("productos", {"method": "PUT", "path": f"/api/productos/{AMOXICILINA}"}, False),
    "escritura_de_stock_ambos": ("productos", {"method": "PUT", "path": "/api/productos/*", "count": 2}, False),
    "registro_de_compra": ("usuarios", {"method": "POST", "path": "/api/compras"}, False),
}


@pytest.mark.parametrize("step", PURCHASE_STEPS)
def test_faults_purchase_step_failure_restores_the_stock(client, faulty, monkeypatch, step):
    service, rule, under_locks = PURCHASE_STEPS[step]
    rule = {"status": 500, "count": 1, **rule}
    before = Snapshot.take(faulty)
    if under_locks:
        monkeypatch.setattr(LocksArmingFault, "sandbox", faulty, raising=False)
        monkeypatch.setattr(LocksArmingFault, "fault", rule, raising=False)
        monkeypatch.setattr(saga_module, "ProductLocks", LocksArmingFault)
    else:
        faulty.faults(service, fail=rule)

    response = buy(client, faulty)

    body = assert_upstream_error(response, 502, service)
    assert Snapshot.take(faulty) == before
    assert faulty.faults(service)["fail"] == []  # the injected failure was really hit
    if step.startswith("escritura") or step == "registro_de_compra":
        assert body["details"]["compensacion"]["estado"] in ("devuelto", "sin_cambios")


def test_faults_purchase_give_back_failing_too_is_journaled(client, faulty, settings, monkeypatch, tmp_path):
    settings.PURCHASE_JOURNAL = str(tmp_path / "compensaciones.jsonl")
    before = Snapshot.take(faulty)
    faulty.faults("usuarios", fail={"method": "POST", "path": "/api/compras", "status": 500})
    store_purchase = UsersClient.purchase_create

    def store_purchase_then_break_products(self, **kwargs):
        # Armed after the stock was taken, so only the give-back write fails.
        faulty.faults("productos", fail={"method": "PUT", "path": "/api/productos/*", "status": 500})
        return store_purchase(self, **kwargs)

    monkeypatch.setattr(UsersClient, "purchase_create", store_purchase_then_break_products)

    response = buy(client, faulty, [(PARACETAMOL, 2)])

    body = assert_upstream_error(response, 502, "usuarios")
    compensacion = body["details"]["compensacion"]
    assert compensacion["estado"] == "pendiente"
    assert compensacion["productos"] == [{"producto_id": PARACETAMOL, "unidades": 2}]
    events = [json.loads(line) for line in (tmp_path / "compensaciones.jsonl").read_text().splitlines()]
    assert [e["evento"] for e in events if e["intento"] == compensacion["intento"]][-1] == "pendiente"
    assert faulty.products.get(PARACETAMOL)["stock"] == before.stock[PARACETAMOL] - 2  # exactly what is journaled
    assert len(faulty.users.purchases(ANA_DNI)) == before.purchases


# The circuit breaker -------------------------------------------------------------------------------------
def fail_users(sb: Sandbox) -> None:
    sb.faults("usuarios", fail={"method": "GET", "path": "/api/user/me", "status": 500, "count": 1000})


def my_purchases(client: Client, sb: Sandbox):
    return client.get(f"{API}/compras/me", **bearer(sb, ANA_DNI))


def wait_for(predicate, timeout: float = 5.0) -> None:
    limit = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < limit, "condition not reached"
        time.sleep(0.02)


def open_breaker(client: Client, sb: Sandbox) -> None:
    fail_users(sb)
    for _ in range(5):
        assert my_purchases(client, sb).status_code == 502
    assert breaker_state(SERVICE_USERS)["estado"] == OPEN


def test_faults_breaker_opens_after_five_failures_and_answers_at_once(client, faulty):
    fail_users(faulty)
    for _ in range(4):
        assert my_purchases(client, faulty).status_code == 502
    assert breaker_state(SERVICE_USERS)["estado"] == CLOSED
    assert my_purchases(client, faulty).status_code == 502
    faulty.clear_faults()  # the upstream is fine again, but the circuit does not know yet
    faulty.clear_requests()

    response = my_purchases(client, faulty)

    body = assert_upstream_error(response, 503, "usuarios")
    assert body["details"]["circuito"] == OPEN
    assert int(response["Retry-After"]) >= 1
    assert faulty.requests("usuarios") == []


def test_faults_breaker_open_shows_in_ready(client, faulty):
    open_breaker(client, faulty)
    faulty.clear_faults()
    response = client.get(f"{API}/ready")
    assert response.status_code == 503
    assert response.json()["servicios"][SERVICE_USERS]["circuito"] == OPEN
    assert response.json()["servicios"][SERVICE_PRODUCTS]["circuito"] == CLOSED


def test_faults_breaker_closes_after_a_successful_trial(client, faulty, settings):
    settings.BREAKER_RESET_SECONDS = 0.3
    reset_breakers()  # breakers keep the settings of their first use
    open_breaker(client, faulty)
    faulty.clear_faults()
    wait_for(lambda: breaker_state(SERVICE_USERS)["estado"] == HALF_OPEN)

    assert my_purchases(client, faulty).status_code == 200
    assert breaker_state(SERVICE_USERS)["estado"] == CLOSED


def test_faults_breaker_reopens_when_the_trial_fails(client, faulty, settings):
    settings.BREAKER_RESET_SECONDS = 0.3
    reset_breakers()
    open_breaker(client, faulty)
    wait_for(lambda: breaker_state(SERVICE_USERS)["estado"] == HALF_OPEN)
    faulty.clear_requests()

    assert my_purchases(client, faulty).status_code == 502  # the one trial reaches the upstream and fails
    assert breaker_state(SERVICE_USERS)["estado"] == OPEN
    assert my_purchases(client, faulty).status_code == 503
    assert faulty.requests("usuarios") == [("GET", "/api/user/me")]


@pytest.mark.parametrize("fault", ["json_anidado", "enorme"])
def test_faults_breaker_recovers_after_a_hostile_trial(client, faulty, settings, fault):
    settings.BREAKER_RESET_SECONDS = 0.3
    reset_breakers()
    open_breaker(client, faulty)
    faulty.clear_faults()
    faulty.faults("usuarios", **FAULTS[fault])
    wait_for(lambda: breaker_state(SERVICE_USERS)["estado"] == HALF_OPEN)

    response = client.get(f"{API}/compras/all", **bearer(faulty, ADMIN_DNI))  # the trial meets hostile JSON
    assert response.status_code == 502 and response.json()["details"]["code"] == "respuesta_invalida"
    assert breaker_state(SERVICE_USERS)["estado"] == OPEN  # resolved, not stuck half-open
    faulty.clear_faults()
    wait_for(lambda: breaker_state(SERVICE_USERS)["estado"] == HALF_OPEN)
    assert client.get(f"{API}/compras/all", **bearer(faulty, ADMIN_DNI)).status_code == 200
    assert breaker_state(SERVICE_USERS)["estado"] == CLOSED


@pytest.mark.parametrize("fault", sorted(NUMBER_FAULTS))
def test_faults_purchase_registered_with_a_hostile_answer_is_found_not_given_back(client, faulty, settings, fault):
    """POST /api/compras answered 200 with unusable JSON: the purchase exists upstream, so the saga looks
    it up among the buyer's purchases instead of giving the stock back, and answers it."""
    settings.PURCHASE_GRACE_SECONDS = 0.5
    before = Snapshot.take(faulty)
    faulty.faults("usuarios", **FAULTS[fault], hostile_route={"method": "POST", "path": "/api/compras"})
    response = buy(client, faulty)
    faulty.clear_faults()
    assert response.status_code == 201, response.json()
    after = Snapshot.take(faulty)
    assert after.purchases == before.purchases + 1
    assert after.stock == {pid: before.stock[pid] - qty for pid, qty in CART}


if __name__ == "__main__":
    print("| ruta | servicio | fallo | estado |\n|---|---|---|---|")
    for row in fault_matrix():
        print("| " + " | ".join(map(str, row)) + " |")
