"""Steady state: upstream calls reuse pooled keep-alive connections, never one TCP connection per call."""
from __future__ import annotations

import time

import pytest

from dashboard.clients import ProductsClient

pytestmark = pytest.mark.integration

ADMIN = "40123456"


def test_listings_never_open_more_connections_than_the_pool(client, sandbox, settings):
    settings.PRODUCT_CACHE_SECONDS = 0  # every listing reads every product
    headers = {"HTTP_AUTHORIZATION": f"Bearer {sandbox.token_for(ADMIN)}"}
    before = sandbox.connections("productos")  # counted since the sandbox started, across tests
    for _ in range(6):
        assert client.get("/api/orchestrator/compras/all", **headers).status_code == 200
    calls = len(sandbox.requests("productos"))
    assert calls >= 6 * 50  # the seed's purchases span 60+ distinct products
    assert sandbox.connections("productos") - before <= settings.UPSTREAM_MAX_CONCURRENCY


def test_sequential_calls_reuse_one_connection(sandbox):
    client = ProductsClient()
    client.product_get(1)
    opened = sandbox.connections("productos")
    for pid in range(1, 21):
        client.product_get(pid)
    assert sandbox.connections("productos") == opened


def test_connections_the_sandbox_closed_while_idle_are_replaced_and_no_write_is_lost(sandbox, monkeypatch):
    # The sandbox, like uvicorn and Node, closes idle keep-alive connections (5 s; 0.3 s here).
    from sandbox import server

    monkeypatch.setattr(server._Handler, "timeout", 0.3)  # noqa: SLF001 - applies to new connections
    client = ProductsClient()
    client.product_get(1)
    opened = sandbox.connections("productos")
    time.sleep(0.6)  # the sandbox has closed it
    stock = client.product_get(1).stock
    client.product_set_stock(1, stock - 1)
    time.sleep(0.6)
    client.product_set_stock(1, stock)
    assert client.product_get(1).stock == stock
    assert sandbox.connections("productos") - opened == 2  # one new connection after each idle spell
