"""Fault injection: latency, forced failures, outages on the same port, hangs, corrupt bodies."""

from __future__ import annotations

import time

import pytest
import requests

from .conftest import ANA_DNI

pytestmark = pytest.mark.integration


def timed_get(http, url):
    started = time.perf_counter()
    response = http.get(url, timeout=5)
    return response, time.perf_counter() - started


def test_latency_is_added_per_request(sb, http, products_url):
    sb.faults("productos", latency_ms=150)
    response, elapsed = timed_get(http, f"{products_url}/api/productos/1")
    assert response.status_code == 200 and elapsed >= 0.14
    sb.clear_faults()
    _, elapsed = timed_get(http, f"{products_url}/api/productos/1")
    assert elapsed < 0.14


def test_jitter_stays_within_bounds(sb, http, products_url):
    sb.faults("productos", latency_ms=20, jitter_ms=40)
    for _ in range(3):
        _, elapsed = timed_get(http, f"{products_url}/echo")
        assert 0.019 <= elapsed < 1


def test_fail_answers_the_next_n_matching_requests(sb, http, users_url, ana_headers):
    sb.faults("usuarios", fail={"method": "POST", "path": "/api/compras", "status": 500, "count": 2})
    body = {"productos": [1], "cantidades": [1]}
    before = len(sb.users.purchases(ANA_DNI))
    assert http.get(f"{users_url}/api/user/me", headers=ana_headers).status_code == 200  # not matching
    statuses = [http.post(f"{users_url}/api/compras", json=body, headers=ana_headers) for _ in range(3)]
    assert [response.status_code for response in statuses] == [500, 500, 200]
    assert statuses[0].json()["error"] == "Error interno del servidor"
    assert len(sb.users.purchases(ANA_DNI)) == before + 1  # failed requests never reached the service


@pytest.mark.parametrize("service, status, check", [
    ("productos", 500, lambda r: r.text == "Internal Server Error"),
    ("productos", 503, lambda r: r.json() == {"detail": "Service Unavailable"}),
    ("recetas", 502, lambda r: set(r.json()) == {"error", "detalle"}),
    ("usuarios", 503, lambda r: r.json()["status"] == 503 and "message" in r.json()),
])
def test_fail_uses_the_services_dialect(sb, http, service, status, check):
    sb.faults(service, fail={"status": status})
    response = http.get(f"{sb.urls[service]}/echo")
    assert response.status_code == status and check(response)
    assert http.get(f"{sb.urls[service]}/echo").status_code == 200


def test_fail_path_accepts_patterns(sb, http, products_url):
    sb.faults("productos", fail={"method": "GET", "path": "/api/productos/*", "status": 500, "count": 5})
    assert http.get(f"{products_url}/api/productos/3").status_code == 500
    assert http.get(f"{products_url}/api/ofertas/all").status_code == 200


def test_down_refuses_connections_then_revives_on_the_same_port(sb, http, products_url):
    assert http.get(f"{products_url}/echo").status_code == 200  # a pooled keep-alive connection
    sb.faults("productos", down=True)
    with pytest.raises(requests.ConnectionError):
        http.get(f"{products_url}/echo", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{products_url}/echo", timeout=2)
    assert sb.urls["productos"] == products_url
    sb.faults("productos", down=False)
    assert requests.get(f"{products_url}/echo", timeout=2).status_code == 200


def test_a_down_service_is_revived_through_another_ones_control_route(sb, http, products_url, users_url):
    sb.faults("productos", down=True)
    response = http.post(f"{users_url}/__sandbox__/faults", json={"servicio": "productos", "down": False})
    assert response.status_code == 200 and response.json()["faults"]["down"] is False
    assert http.get(f"{products_url}/echo", timeout=2).status_code == 200


def test_reset_revives_downed_services(sb, http):
    for service in ("usuarios", "productos", "recetas"):
        sb.faults(service, down=True)
    sb.reset()
    assert all(http.get(f"{url}/echo", timeout=2).status_code == 200 for url in sb.urls.values())


def test_hang_trips_client_timeouts(sb, http, prescriptions_url):
    sb.faults("recetas", hang_seconds=10)
    started = time.perf_counter()
    with pytest.raises(requests.ReadTimeout):
        http.get(f"{prescriptions_url}/echo", timeout=0.3)
    assert time.perf_counter() - started < 2
    sb.clear_faults()
    assert requests.get(f"{prescriptions_url}/echo", timeout=2).status_code == 200


def test_html_instead_of_json_corrupts_only_200_json(sb, http, products_url):
    sb.faults("productos", html_instead_of_json=True)
    response = http.get(f"{products_url}/api/productos/1")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert http.get(f"{products_url}/api/productos/99999").json() == {"detail": "Producto no encontrado"}


def test_truncated_json(sb, http, products_url):
    sb.faults("productos", truncated_json=True)
    response = http.get(f"{products_url}/api/productos/1")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_unknown_fault_keyword_or_service_is_rejected(sb):
    with pytest.raises(ValueError):
        sb.faults("productos", slow=True)
    with pytest.raises(ValueError):
        sb.faults("pagos", latency_ms=1)


def test_faults_over_http_and_clear(sb, http, users_url, products_url):
    response = http.post(f"{users_url}/__sandbox__/faults", json={"servicio": "productos", "latency_ms": 5})
    assert response.json()["faults"]["latency_ms"] == 5
    assert http.post(f"{users_url}/__sandbox__/faults", json={"servicio": "pagos"}).status_code == 400
    assert http.delete(f"{users_url}/__sandbox__/faults").status_code == 200
    assert sb.state()["faults"]["productos"]["latency_ms"] == 0


def test_slow_lands_processes_the_write_after_the_caller_gave_up(sb, http, users_url, ana_headers):
    sb.faults("usuarios", slow_lands={"method": "POST", "path": "/api/compras", "seconds": 0.4})
    before = len(sb.users.purchases(ANA_DNI))
    with pytest.raises(requests.ReadTimeout):
        http.post(f"{users_url}/api/compras", json={"productos": [1], "cantidades": [1]}, headers=ana_headers,
                  timeout=(1, 0.1))
    assert len(sb.users.purchases(ANA_DNI)) == before  # not yet...
    deadline = time.monotonic() + 5
    while len(sb.users.purchases(ANA_DNI)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sb.users.purchases(ANA_DNI)) == before + 1  # ...but it lands
    assert sb.faults("usuarios")["slow_lands"] == []  # used once


def test_slow_lands_queues_later_writes_of_the_same_row_behind_it(sb, products_url):
    sb.faults("productos", slow_lands={"method": "PUT", "path": "/api/productos/1", "seconds": 0.4})
    with requests.Session() as first, pytest.raises(requests.ReadTimeout):
        first.put(f"{products_url}/api/productos/1", json={"stock": 5}, timeout=(1, 0.1))
    with requests.Session() as second:
        read = second.get(f"{products_url}/api/productos/1", timeout=5).json()["stock"]
        assert read != 5  # reads do not wait for the row: they see the value before the slow write
        assert second.put(f"{products_url}/api/productos/1", json={"stock": 9}, timeout=5).status_code == 200
    assert sb.products.get(1)["stock"] == 9  # applied after the slow one, as a database row lock orders them
