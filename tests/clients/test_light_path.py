"""The lightest path through requests: prepared here, sent by the pooled session, same bytes on the wire."""
from __future__ import annotations

import json

import requests

from dashboard.clients.products import ProductsClient
from tests.conftest import PRODUCTS
from tests.payloads import product_payload


def test_calls_skip_session_request_and_its_per_call_merges(mocked, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("Session.request merges settings, cookies and environment on every call")

    monkeypatch.setattr(requests.Session, "request", refuse)
    mocked.get(f"{PRODUCTS}/api/productos/1", json=product_payload(1))
    assert ProductsClient().product_get(1).id == 1


def test_a_json_write_goes_out_as_before(mocked):
    mocked.put(f"{PRODUCTS}/api/productos/3", json=product_payload(3, stock=7))
    ProductsClient().product_set_stock(3, 7)
    sent = mocked.calls[0].request
    assert json.loads(sent.body) == {"stock": 7}
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Content-Length"] == str(len(sent.body))


def test_query_parameters_are_encoded_and_none_dropped(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/nombre", json={"total": 0, "page": 1, "pagesize": 25, "productos": []})
    ProductsClient().products_by_name("ácido & co", page=2)
    url = mocked.calls[0].request.url
    assert "nombre=%C3%A1cido+%26+co" in url and "page=2" in url
