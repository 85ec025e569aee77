"""What all three services share: /echo, open CORS, keep-alive, the request log and /__sandbox__/ control."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

import pytest
import requests

from sandbox import SERVICES

from .conftest import ANA_DNI

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
def test_echo_needs_no_auth(sb, http, service):
    response = http.get(f"{sb.urls[service]}/echo")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("service, path", [
    ("usuarios", "/api/compras"), ("productos", "/api/productos/40"), ("recetas", "/api/recetas/filter")])
def test_cors_preflight_from_any_origin(sb, http, service, path):
    response = http.options(f"{sb.urls[service]}{path}", headers={
        "Origin": "https://front.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize("service", SERVICES)
def test_connections_are_kept_alive(sb, service):
    parts = urlsplit(sb.urls[service])
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        for _ in range(3):  # the same socket serves every request
            connection.request("GET", "/echo")
            response = connection.getresponse()
            response.read()
            assert response.status == 200 and response.version == 11
            assert (response.getheader("Connection") or "").lower() != "close"
    finally:
        connection.close()


def test_sixty_four_concurrent_keep_alive_clients(sb):
    clients, rounds = 64, 5
    sb.faults("productos", latency_ms=30)  # requests overlap, so all 64 connections are open at once
    barrier = threading.Barrier(clients)
    results: list[int] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with requests.Session() as session:
            barrier.wait(timeout=10)
            for round_number in range(rounds):
                product_id = 1 + (number + round_number) % 60
                status = session.get(f"{sb.urls['productos']}/api/productos/{product_id}", timeout=10).status_code
                with lock:
                    results.append(status)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [200] * (clients * rounds)
    assert len(sb.requests("productos")) == clients * rounds


def test_request_log_counts_calls_without_control_routes(sb, http, users_url, products_url):
    http.get(f"{products_url}/api/productos/40")
    http.get(f"{products_url}/api/productos/nombre?nombre=amox")
    http.get(f"{users_url}/__sandbox__/state")
    assert sb.requests("productos") == [("GET", "/api/productos/40"), ("GET", "/api/productos/nombre")]
    assert sb.requests("productos", with_query=True)[1] == ("GET", "/api/productos/nombre?nombre=amox")
    assert sb.requests("usuarios") == []
    sb.clear_requests()
    assert sb.requests("productos") == []


def test_control_state(sb, http, prescriptions_url):
    state = http.get(f"{prescriptions_url}/__sandbox__/state").json()
    assert state["urls"] == sb.urls
    assert state["activos"] == {name: True for name in SERVICES}
    assert state["conteos"]["productos"] >= 60 and state["conteos"]["medicos"] >= 100


def test_control_reset_restores_the_seed(sb, http, products_url):
    sb.products.set_stock(40, 1)
    assert http.post(f"{products_url}/__sandbox__/reset").status_code == 200
    assert sb.products.get(40)["stock"] == 40


def test_control_modes(sb, http, prescriptions_url):
    response = http.post(f"{prescriptions_url}/__sandbox__/modes", json={"validar_route_only": True})
    assert response.json()["validar_route_only"] is True and sb.validar_route_only is True


def test_workload_over_http(sb, http, users_url, ana_headers):
    before = len(sb.users.purchases(ANA_DNI))
    response = http.post(f"{users_url}/__sandbox__/workload",
                         json={"dni": ANA_DNI, "compras": 100, "productos_distintos": 30})
    assert response.status_code == 200
    assert len(response.json()["productos"]) == 30
    mine = http.get(f"{users_url}/api/compras/me", headers=ana_headers).json()
    assert len(mine) == before + 100
    new = mine[before:]
    assert len({pid for purchase in new for pid in purchase["productos"]}) == 30


def test_workload_creates_products_beyond_the_catalogue(sb):
    catalogue = len(sb.products.ids())
    summary = sb.seed_workload(ANA_DNI, purchases=200, distinct_products=catalogue + 20)
    assert len(sb.products.ids()) == catalogue + 20
    assert all(sb.products.get(pid) for pid in summary["productos"])


def test_workload_unknown_user_is_rejected(sb, http, users_url):
    response = http.post(f"{users_url}/__sandbox__/workload", json={"dni": "00000000"})
    assert response.status_code == 400


def test_chunked_request_bodies_are_read_whole(sb, http, users_url):
    def chunks():
        yield b'{"dni": "40123456", '
        yield b'"password": "Admin123!"}'

    response = http.post(f"{users_url}/api/auth/login", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and "token" in response.json()
    assert http.get(f"{users_url}/echo").status_code == 200  # the kept-alive connection is still in sync
