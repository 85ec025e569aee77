"""Liveness, readiness, and the JSON error shape for unknown routes and wrong methods."""
from __future__ import annotations

import pytest
import requests
from django.test import Client

from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS


def test_health_answers_without_upstream_calls(client, mocked):
    for url in ("/api/orchestrator/health", "/api/orchestrator/echo"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.json() == {"status": "healthy", "service": "orchestrator",
                                   "message": "Backend orquestador operativo"}
    assert not mocked.calls


def test_ready_is_ready_when_all_three_answer(client, mocked):
    for base in (USERS, PRODUCTS, PRESCRIPTIONS):
        mocked.get(f"{base}/echo", body="ok")
    response = client.get("/api/orchestrator/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["servicios"]) == {"usuarios_y_autenticacion_y_compras", "productos_y_ofertas", "recetas_y_medicos"}
    assert all(s["status"] == "up" and isinstance(s["latencia_ms"], int) for s in body["servicios"].values())


def test_ready_does_not_reveal_the_upstreams_addresses(client, mocked):
    for base in (USERS, PRODUCTS, PRESCRIPTIONS):
        mocked.get(f"{base}/echo", body="ok")
    response = client.get("/api/orchestrator/ready")
    assert all(host not in response.content.decode() for host in (USERS, PRODUCTS, PRESCRIPTIONS))


def test_ready_names_the_service_that_is_down(client, mocked):
    mocked.get(f"{USERS}/echo", body="ok")
    mocked.get(f"{PRESCRIPTIONS}/echo", body="ok")
    mocked.get(f"{PRODUCTS}/echo", body=requests.exceptions.ConnectionError("refused"))
    response = client.get("/api/orchestrator/ready")
    assert response.status_code == 503
    servicios = response.json()["servicios"]
    assert response.json()["status"] == "degraded"
    assert servicios["productos_y_ofertas"]["status"] == "down"
    assert servicios["usuarios_y_autenticacion_y_compras"]["status"] == "up"


def test_unknown_api_route_answers_json_404(client):
    response = client.get("/api/orchestrator/no-existe")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "Ruta no encontrada", "details": {"code": "ruta_no_encontrada"}}


def test_wrong_method_answers_json_405_with_allow(client):
    response = client.post("/api/orchestrator/health")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["details"]["code"] == "metodo_no_permitido"


@pytest.mark.parametrize("path", ["health", "echo", "ready", "openapi.json", "compras/me", "compras/all"])
def test_wrong_method_is_405_not_a_csrf_failure(path):
    # The default test client skips CSRF checks; browsers and scripts do not get that favour.
    response = Client(enforce_csrf_checks=True).post(f"/api/orchestrator/{path}")
    assert response.status_code == 405 and response["Allow"] == "GET"
    assert response.json()["details"]["code"] == "metodo_no_permitido"


def test_every_response_carries_a_request_id(client):
    assert client.get("/api/orchestrator/health", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/api/orchestrator/health", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert generated != "bad id\nwith newline" and len(generated) == 32


def test_cors_preflight_allows_configured_origin_only_under_api(client, settings):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^http://localhost:[^/]*$"]
    response = client.options("/api/orchestrator/health", HTTP_ORIGIN="http://localhost:5173",
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                              HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,idempotency-key")
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "idempotency-key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response
    other = client.get("/api/orchestrator/health", HTTP_ORIGIN="http://evil.example")
    assert "Access-Control-Allow-Origin" not in other
    exposed = client.get("/api/orchestrator/health", HTTP_ORIGIN="http://localhost:5173")
    assert "X-Request-ID" in exposed["Access-Control-Expose-Headers"]


def test_request_id_with_a_trailing_newline_is_replaced(client):
    generated = client.get("/api/orchestrator/health", HTTP_X_REQUEST_ID="abc\n")["X-Request-ID"]
    assert generated != "abc\n" and len(generated) == 32
