"""/metrics: who may scrape it, and the names, labels and values after known traffic.

Counters are process-wide, so every test compares a value before and after its own traffic.
"""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from dashboard import metrics
from dashboard.cache import RedisCache
from dashboard.clients import ProductsClient
from dashboard.clients.breakers import breaker_for
from dashboard.errors import UpstreamFailed, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import PRODUCTS
from tests.payloads import product_payload

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_URL = f"{PRODUCTS}/api/productos/1"
PRODUCTS_SERVICE = "productos_y_ofertas"
PRODUCT_ROUTE = "/api/productos/{id}"

FAMILIES = {
    "orchestrator_http_requests": "counter",
    "orchestrator_http_request_duration_seconds": "histogram",
    "orchestrator_upstream_requests": "counter",
    "orchestrator_upstream_request_duration_seconds": "histogram",
    "orchestrator_circuit_breaker_state": "gauge",
    "orchestrator_purchases": "counter",
    "orchestrator_compensation_journal_pending": "gauge",
    "orchestrator_rate_limited": "counter",
    "orchestrator_cache_errors": "counter",
}


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr("dashboard.clients.base.time.sleep", lambda s: None)


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode()) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# Who may scrape ---------------------------------------------------------------------------------------
def test_metrics_answer_loopback(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_refuse_other_addresses_with_json_even_behind_a_forged_forwarded_for(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403
    assert response.json()["details"]["code"] == "acceso_denegado"
    assert b"orchestrator_" not in response.content


def test_metrics_answer_the_configured_addresses_and_networks(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.200.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.0.9").status_code == 200  # IPv4-mapped
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


def test_a_bad_metrics_allowed_ips_entry_is_a_system_check_error(settings):
    from dashboard.checks import metrics_allowed_ips_parse

    assert metrics_allowed_ips_parse(None) == []
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "prometheus.interno"]
    assert [e.id for e in metrics_allowed_ips_parse(None)] == ["dashboard.E002"]


def test_metrics_only_answer_reads(client):
    assert client.post("/metrics").status_code == 405


# Names and types -----------------------------------------------------------------------------------
def test_every_metric_family_is_exposed_with_its_type_and_help(client):
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").content.decode())}
    for name, kind in FAMILIES.items():
        assert name in families, name
        assert families[name].type == kind and families[name].documentation, name
    outcomes = {s.labels["outcome"] for s in families["orchestrator_purchases"].samples if s.name.endswith("_total")}
    assert outcomes == set(metrics.PURCHASE_OUTCOMES)  # every outcome shows from the start


# Requests ----------------------------------------------------------------------------------------------
def test_requests_are_counted_by_route_name_method_and_status_with_latency(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/orchestrator/health").status_code == 200
    assert client.get("/no/such/page/12345").status_code == 404
    assert client.generic("BREW", "/api/orchestrator/health").status_code == 405
    after = scrape(client)
    health = {"route": "orchestrator_api:health", "method": "GET"}
    assert value(after, "orchestrator_http_requests_total", **health, status="200") - \
        value(before, "orchestrator_http_requests_total", **health, status="200") == 3
    assert value(after, "orchestrator_http_request_duration_seconds_count", **health) - \
        value(before, "orchestrator_http_request_duration_seconds_count", **health) == 3
    assert value(after, "orchestrator_http_requests_total", route="unmatched", method="GET", status="404") - \
        value(before, "orchestrator_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(after, "orchestrator_http_requests_total", route="orchestrator_api:health", method="other",
                 status="405") - value(before, "orchestrator_http_requests_total",
                                       route="orchestrator_api:health", method="other", status="405") == 1
    # The raw path never becomes a label value: the cardinality stays that of the URL patterns.
    assert not any("12345" in str(labels) or "BREW" in str(labels) for _name, labels in after)


def test_a_route_with_an_id_is_labelled_by_its_pattern_name(client):
    before = scrape(client)
    client.get("/compras/987654")  # not signed in: a redirect, but the route is resolved
    after = scrape(client)
    labels = {"route": "dashboard:purchase_detail", "method": "GET"}
    assert value(after, "orchestrator_http_request_duration_seconds_count", **labels) - \
        value(before, "orchestrator_http_request_duration_seconds_count", **labels) == 1


# Upstream calls -------------------------------------------------------------------------------------------
def upstream_count(samples, outcome: str, method: str = "GET") -> float:
    return value(samples, "orchestrator_upstream_requests_total", service=PRODUCTS_SERVICE, route=PRODUCT_ROUTE,
                 method=method, outcome=outcome)


def test_upstream_calls_are_counted_by_service_route_template_and_outcome(client, mocked):
    before = scrape(client)
    mocked.get(PRODUCT_URL, json=product_payload(1))
    ProductsClient().product_get(1)
    mocked.replace("GET", PRODUCT_URL, status=404, json={"detail": "Producto no encontrado"})
    with pytest.raises(UpstreamRejected):
        ProductsClient().product_get(1)
    mocked.replace("GET", PRODUCT_URL, status=502, body="busy")
    with pytest.raises(UpstreamFailed):
        ProductsClient().product_get(1)  # a GET is tried twice
    mocked.replace("GET", PRODUCT_URL, body=requests.exceptions.ReadTimeout())
    with pytest.raises(UpstreamTimeout):
        ProductsClient().product_get(1)
    mocked.replace("GET", PRODUCT_URL, json={"no": "es un producto"})
    with pytest.raises(UpstreamFailed):
        ProductsClient().product_get(1)
    mocked.put(PRODUCT_URL, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable):
        ProductsClient().product_set_stock(1, 5)
    after = scrape(client)
    expected = {("success", "GET"): 1, ("client_error", "GET"): 1, ("server_error", "GET"): 2,
                ("timeout", "GET"): 1, ("invalid_response", "GET"): 1, ("unreachable", "PUT"): 1}
    for (outcome, method), count in expected.items():
        assert upstream_count(after, outcome, method) - upstream_count(before, outcome, method) == count, outcome
    histogram = {"service": PRODUCTS_SERVICE, "route": PRODUCT_ROUTE, "method": "GET"}
    assert value(after, "orchestrator_upstream_request_duration_seconds_count", **histogram) - \
        value(before, "orchestrator_upstream_request_duration_seconds_count", **histogram) == 6
    assert not any("/api/productos/1'" in str(labels) for _name, labels in after)


def test_breaker_state_is_one_hot_per_upstream_and_calls_refused_by_an_open_circuit_are_counted(client, mocked):
    closed = scrape(client)
    for service in ("usuarios_y_autenticacion_y_compras", PRODUCTS_SERVICE, "recetas_y_medicos"):
        assert value(closed, "orchestrator_circuit_breaker_state", service=service, state="closed") == 1
    mocked.get(PRODUCT_URL, status=500, body="boom")
    for _ in range(5):
        with pytest.raises(UpstreamFailed):
            ProductsClient().product_get(1)
    with pytest.raises(UpstreamUnavailable):
        ProductsClient().product_get(1)
    opened = scrape(client)
    assert [value(opened, "orchestrator_circuit_breaker_state", service=PRODUCTS_SERVICE, state=s)
            for s in metrics.BREAKER_STATES] == [0, 1, 0]
    assert upstream_count(opened, "circuit_open") - upstream_count(closed, "circuit_open") == 1
    assert value(opened, "orchestrator_upstream_request_duration_seconds_count", service=PRODUCTS_SERVICE,
                 route=PRODUCT_ROUTE, method="GET") - value(
        closed, "orchestrator_upstream_request_duration_seconds_count", service=PRODUCTS_SERVICE,
        route=PRODUCT_ROUTE, method="GET") == 5  # no latency for a call that never left

    breaker_for(PRODUCTS_SERVICE).opened_at -= 31  # the reset time passed: the next call is a trial
    waiting = scrape(client)
    assert value(waiting, "orchestrator_circuit_breaker_state", service=PRODUCTS_SERVICE, state="half_open") == 1
    mocked.replace("GET", PRODUCT_URL, json=product_payload(1))
    ProductsClient().product_get(1)
    assert value(scrape(client), "orchestrator_circuit_breaker_state", service=PRODUCTS_SERVICE, state="closed") == 1


# Purchases, journal, rate limits, cache -------------------------------------------------------------------
def test_record_purchase_counts_known_outcomes_and_refuses_typos(client):
    before = scrape(client)
    metrics.record_purchase("uncertain")
    metrics.record_purchase("uncertain")
    assert value(scrape(client), "orchestrator_purchases_total", outcome="uncertain") - \
        value(before, "orchestrator_purchases_total", outcome="uncertain") == 2
    with pytest.raises(ValueError):
        metrics.record_purchase("incierta")


def test_journal_pending_counts_the_open_purchase_attempts(client):
    from dashboard.services.purchase_saga.journal import journal

    assert value(scrape(client), "orchestrator_compensation_journal_pending") == 0
    attempt = journal().begin(dni="1", usuario_id=None, items=[(1, 2)], clave=None, huella=None, stock=[],
                              request_id="r")
    journal().begin(dni="2", usuario_id=None, items=[(1, 1)], clave=None, huella=None, stock=[], request_id="r")
    assert value(scrape(client), "orchestrator_compensation_journal_pending") == 2
    journal().finish(attempt, "devuelta")
    assert value(scrape(client), "orchestrator_compensation_journal_pending") == 1


def test_journal_pending_asks_a_registered_provider_and_says_nan_when_it_cannot_tell(client):
    try:
        metrics.set_pending_journal_provider(lambda: 7)
        assert value(scrape(client), "orchestrator_compensation_journal_pending") == 7

        def broken() -> int:
            raise OSError("journal unreadable")

        metrics.set_pending_journal_provider(broken)
        assert math.isnan(value(scrape(client), "orchestrator_compensation_journal_pending"))  # unknown is not 0
    finally:
        metrics.set_pending_journal_provider(None)


def test_rate_limit_refusals_are_counted_by_limit(client, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 2  # anonymous requests spend their address's budget
    before = scrape(client)
    statuses = [client.get("/api/orchestrator/compras/me").status_code for _ in range(4)]
    assert statuses.count(429) == 2
    assert value(scrape(client), "orchestrator_rate_limited_total", scope="api-address") - \
        value(before, "orchestrator_rate_limited_total", scope="api-address") == 2


def test_cache_errors_are_counted_by_operation_and_still_raise(client):
    from redis.exceptions import RedisError

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = RedisCache(f"redis://127.0.0.1:{port}/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    before = scrape(client)
    with pytest.raises(RedisError):
        cache.get("clave")
    with pytest.raises(RedisError):
        cache.add("clave", 1)
    after = scrape(client)
    for operation in ("get", "add"):
        assert value(after, "orchestrator_cache_errors_total", operation=operation) - \
            value(before, "orchestrator_cache_errors_total", operation=operation) == 1


def test_a_redis_cache_url_selects_the_counting_backend():
    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "CACHE_URL": "redis://127.0.0.1:6379/0"}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "dashboard.cache.RedisCache"


def test_metrics_speak_openmetrics_to_a_scraper_that_asks_for_it(client):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")
