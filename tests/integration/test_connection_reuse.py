"""Steady state: upstream calls reuse pooled keep-alive connections, never one TCP connection per call."""
from __future__ import annotations

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
