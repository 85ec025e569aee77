"""Retries of reads, the per-request deadline and the circuit breaker of the client base."""
from __future__ import annotations

import pytest
import requests

from dashboard import context
from dashboard.clients import ProductsClient, UsersClient
from dashboard.clients.breakers import breaker_for, breaker_state
from dashboard.clients.transport import UpstreamAdapter
from dashboard.errors import UpstreamFailed, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import PRODUCTS, USERS
from tests.payloads import product_payload, purchase_payload

URL = f"{PRODUCTS}/api/productos/1"


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr("dashboard.clients.base.time.sleep", lambda s: None)


def trip_the_breaker(mocked) -> None:
    mocked.get(URL, status=500, body="boom")
    for _ in range(5):
        with pytest.raises(UpstreamFailed):
            ProductsClient().product_get(1)


def test_get_is_retried_once_after_a_refused_connection(mocked):
    mocked.get(URL, body=requests.exceptions.ConnectionError("refused"))
    mocked.get(URL, json=product_payload(1))
    assert ProductsClient().product_get(1).id == 1
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_get_is_retried_once_on_gateway_statuses(mocked, status):
    mocked.get(URL, status=status, body="busy")
    with pytest.raises(UpstreamFailed):
        ProductsClient().product_get(1)
    assert len(mocked.calls) == 2


def test_get_is_not_retried_on_500_4xx_or_timeout(mocked):
    mocked.get(URL, status=500, body="boom")
    with pytest.raises(UpstreamFailed):
        ProductsClient().product_get(1)
    mocked.replace("GET", URL, status=404, json={"detail": "Producto no encontrado"})
    with pytest.raises(UpstreamRejected):
        ProductsClient().product_get(1)
    mocked.replace("GET", URL, body=requests.exceptions.ReadTimeout())
    with pytest.raises(UpstreamTimeout):
        ProductsClient().product_get(1)
    assert len(mocked.calls) == 3


def test_writes_are_never_retried(mocked):
    mocked.put(URL, body=requests.exceptions.ConnectionError("refused"))
    mocked.post(f"{USERS}/api/compras", status=503, body="busy")
    with pytest.raises(UpstreamUnavailable):
        ProductsClient().product_set_stock(1, 5)
    with pytest.raises(UpstreamFailed):
        UsersClient(token="t").purchase_create(productos=[1], cantidades=[1])
    assert len(mocked.calls) == 2


def test_breaker_opens_after_five_failures_and_answers_at_once(mocked):
    trip_the_breaker(mocked)
    calls_before = len(mocked.calls)
    with pytest.raises(UpstreamUnavailable) as exc:
        ProductsClient().product_get(1)
    assert len(mocked.calls) == calls_before
    assert exc.value.retry_after > 0 and exc.value.details["circuito"] == "abierto"
    assert breaker_state("productos_y_ofertas")["estado"] == "abierto"


def test_breaker_ignores_4xx(mocked):
    mocked.get(URL, status=404, json={"detail": "Producto no encontrado"})
    for _ in range(7):
        with pytest.raises(UpstreamRejected):
            ProductsClient().product_get(1)
    assert breaker_state("productos_y_ofertas")["estado"] == "cerrado"


def test_breaker_closes_after_a_successful_trial(mocked):
    trip_the_breaker(mocked)
    breaker = breaker_for("productos_y_ofertas")
    breaker.opened_at -= 31
    assert breaker_state("productos_y_ofertas")["estado"] == "semiabierto"
    mocked.replace("GET", URL, json=product_payload(1))
    assert ProductsClient().product_get(1).id == 1
    assert breaker_state("productos_y_ofertas")["estado"] == "cerrado"


def test_breakers_are_per_service(mocked):
    mocked.get(URL, status=500, body="boom")
    mocked.get(f"{USERS}/api/compras/me", json=[purchase_payload()])
    for _ in range(5):
        with pytest.raises(UpstreamFailed):
            ProductsClient().product_get(1)
    assert len(UsersClient(token="t").purchases_mine()) == 1


def test_deadline_spent_means_no_call(mocked):
    mocked.get(URL, json=product_payload(1))
    ctx, token = context.begin("r", deadline_seconds=-1)
    try:
        with pytest.raises(UpstreamTimeout):
            ProductsClient().product_get(1)
    finally:
        context.end(token)
    assert not mocked.calls


def test_deadline_clips_the_timeout(mocked, monkeypatch, settings):
    settings.UPSTREAM_READ_TIMEOUT = 5
    seen = {}
    original = UpstreamAdapter.send  # the adapter's send, as `responses` mocks it

    def spy(self, prepared, **kwargs):
        seen["timeout"] = kwargs["timeout"]
        return original(self, prepared, **kwargs)

    monkeypatch.setattr(UpstreamAdapter, "send", spy)
    mocked.get(URL, json=product_payload(1))
    ctx, token = context.begin("r", deadline_seconds=1.0)
    try:
        ProductsClient().product_get(1)
    finally:
        context.end(token)
    assert seen["timeout"][1] <= 1.0


def test_breaker_lets_only_one_trial_through_and_reopens_on_its_failure(mocked):
    trip_the_breaker(mocked)
    breaker = breaker_for("productos_y_ofertas")
    breaker.opened_at -= 31
    breaker.before_call()  # the trial
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()  # everyone else still fails fast
    breaker.record_failure(RuntimeError("trial failed"))
    assert breaker_state("productos_y_ofertas")["estado"] == "abierto"


def test_breaker_does_not_serialise_concurrent_calls(mocked):
    import threading

    from dashboard.concurrency import gather

    in_flight, peak, lock = [0], [0], threading.Lock()
    barrier = threading.Barrier(4, timeout=5)

    def callback(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        barrier.wait()  # only passes when 4 calls are inside at once
        with lock:
            in_flight[0] -= 1
        return 200, {}, __import__("json").dumps(product_payload(1))

    mocked.add_callback("GET", URL, callback=callback)
    gather([lambda: ProductsClient().product_get(1) for _ in range(4)])
    assert peak[0] == 4
