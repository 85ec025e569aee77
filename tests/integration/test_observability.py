"""Trace context and metrics end to end: the sandbox records the headers each service received, and
/metrics counts purchases as they really went; served by portal.serve, several workers add up in one scrape."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from sandbox import DEMO_LOGINS
from tests.integration.test_multiworker import free_port, redis_url, wait_until  # noqa: F401 - redis_url: fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ANA_DNI = next(login["dni"] for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
PARACETAMOL, DICLOFENACO_SIN_STOCK, AMOXICILINA = 1, 11, 40
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
SERVICES = ("usuarios", "productos", "recetas")


def buy(client: Client, sb, items: list[tuple[int, int]], **headers):
    body = {"productos": [{"producto_id": p, "cantidad": c} for p, c in items]}
    return client.post("/api/orchestrator/compras", data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {sb.token_for(ANA_DNI)}", **headers)


def purchases_metric(client: Client) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    return {s.labels["outcome"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "orchestrator_purchases" for s in f.samples if s.name == "orchestrator_purchases_total"}


def test_traceparent_reaches_each_of_the_three_services(client, sandbox):
    # Amoxicilina needs a prescription (Ana has a validated one): users, products and prescriptions are asked.
    response = buy(client, sandbox, [(AMOXICILINA, 1)], HTTP_TRACEPARENT=TRACEPARENT, HTTP_X_REQUEST_ID="compra-1")
    assert response.status_code == 201, response.content
    spans = []
    for service in SERVICES:
        received = sandbox.received_headers(service)
        assert received, f"{service} received nothing"
        for headers in received:
            version, trace_id, span_id, flags = headers["traceparent"].split("-")
            assert (version, trace_id, flags) == ("00", TRACE_ID, "01"), service
            assert headers["x-request-id"] == "compra-1"
            assert "authorization" not in headers  # the sandbox never keeps credentials
            spans.append(span_id)
    assert len(spans) == len(set(spans))  # each call is its own child span


def test_purchases_are_counted_registered_refused_and_compensated(client, sandbox):
    before = purchases_metric(client)
    assert buy(client, sandbox, [(PARACETAMOL, 1)]).status_code == 201
    assert buy(client, sandbox, [(DICLOFENACO_SIN_STOCK, 1)]).status_code == 400
    stock = sandbox.products.get(PARACETAMOL)["stock"]
    sandbox.faults("usuarios", fail={"method": "POST", "path": "/api/compras", "status": 500, "count": 1})
    failed = buy(client, sandbox, [(PARACETAMOL, 2)])
    assert failed.status_code == 502 and failed.json()["details"]["compensacion"]["estado"] == "devuelto"
    assert sandbox.products.get(PARACETAMOL)["stock"] == stock
    after = purchases_metric(client)
    assert {k: after[k] - before.get(k, 0) for k in after} == {"registered": 1, "refused": 1, "compensated": 1,
                                                               "uncertain": 0}


# Several worker processes (portal.serve): one scrape adds up every worker ------------------------------------
@pytest.fixture
def two_workers(sandbox, redis_url, tmp_path):  # noqa: F811 - the fixture imported above
    port = free_port()
    metrics_dir = tmp_path / "metricas"
    env = {**os.environ,
           "URL_USUARIOS_COMPRAS": sandbox.urls["usuarios"], "URL_PRODUCTOS_OFERTAS": sandbox.urls["productos"],
           "URL_RECETAS_MEDICOS": sandbox.urls["recetas"], "CACHE_URL": redis_url,
           "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "False", "LOG_LEVEL": "WARNING",
           "WEB_CONCURRENCY": "2", "SERVER_THREADS": "4", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "portal.serve", "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(base + "/api/orchestrator/health", timeout=1).status_code == 200)
    yield base, metrics_dir
    proc.terminate()
    proc.wait(timeout=15)


def health_count(base: str) -> float:
    text = requests.get(base + "/metrics", timeout=10).text
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "orchestrator_http_requests_total"
                and s.labels == {"route": "orchestrator_api:health", "method": "GET", "status": "200"})


def test_two_workers_add_up_in_one_scrape(two_workers):
    base, metrics_dir = two_workers
    before = health_count(base)
    deadline = time.monotonic() + 60
    sent = 0
    # New connections until both workers have answered (each writes its own files in the directory).
    while sent < 40 or len({p.stem.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}) < 2:
        assert time.monotonic() < deadline, "only one worker ever answered"
        assert requests.get(base + "/api/orchestrator/health", timeout=10,
                            headers={"Connection": "close"}).status_code == 200
        sent += 1
    # Whichever worker answers the scrape, it counts the requests of both.
    counts = {health_count(base) - before for _ in range(6)}
    assert counts == {sent}
