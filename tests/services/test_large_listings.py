"""Large listings: each time converted once, each amount rounded once, the common purchase shape parsed fast."""
from __future__ import annotations

import json

import pytest

from dashboard.api.json import fast_json_response, json_response
from dashboard.services.purchases import listing_to_wire, purchases_list
from dashboard.types import Purchase, WireError
from tests.conftest import USERS
from tests.payloads import product_payload, purchase_payload
from tests.services.test_purchases_support import FakeProducts, buyer, upstreams

MINE = f"{USERS}/api/compras/me"


def counting(monkeypatch, module, name):
    seen = {"n": 0}
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        seen["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return seen


@pytest.fixture
def big_listing(mocked):
    FakeProducts(mocked, product_payload(1, precio=2.675), product_payload(2, precio=10))
    mocked.get(MINE, json=[purchase_payload(n, productos=[1, 2], cantidades=[1, 3],
                                            fecha=f"2025-10-{1 + n % 28:02d}T10:00:00") for n in range(1, 301)])


def test_each_purchase_time_is_converted_once(big_listing, monkeypatch):
    from dashboard.services.purchases import listing as module

    seen = counting(monkeypatch, module, "upstream_time")
    purchases_list(upstreams=upstreams(), caller=buyer(), scope="me")
    assert seen["n"] == 300


def test_each_amount_is_rounded_once_per_listing(big_listing, monkeypatch):
    from dashboard.services.purchases import listing as module
    from dashboard.services.purchases import wire

    rounded = counting(monkeypatch, module, "money")
    written = counting(monkeypatch, wire, "money_wire")
    body = listing_to_wire(purchases_list(upstreams=upstreams(), caller=buyer(), scope="me"))
    assert rounded["n"] == 2  # one subtotal per (product, quantity), not per purchase line
    assert written["n"] == 2  # one wire price per shared line
    first = body["compras"][0]
    assert [d["precio"] for d in first["productos_detalle"]] == [2.68, 10.0]
    assert first["total"] == 2.68 + 30.0  # money(2.675 x 1) + 10 x 3


def test_the_fast_json_answer_is_the_same_json(big_listing):
    body = listing_to_wire(purchases_list(upstreams=upstreams(), caller=buyer(), scope="me"))
    fast, slow = fast_json_response(body), json_response(body)
    assert fast["Content-Type"] == "application/json"
    assert json.loads(fast.content) == json.loads(slow.content)
    assert "ñ" in fast_json_response({"x": "ñ"}).content.decode()  # UTF-8, not escaped


GOOD = purchase_payload(7, productos=[1, 2], cantidades=[3, 4], fecha="2025-10-01T09:00:00", usuario_id=5)


def test_the_fast_parse_gives_what_the_slow_one_gives():
    fast = Purchase._from_wire_fast(GOOD)
    assert fast is not None and fast == Purchase.from_wire({**GOOD, "extra": True})


@pytest.mark.parametrize("bad", [
    {**GOOD, "id": True}, {**GOOD, "productos": [True, 2]}, {**GOOD, "cantidades": [1]},
    {**GOOD, "usuarioId": "5"}, {**GOOD, "fechaCompra": 5}, {**GOOD, "productos": "1,2"},
])
def test_the_fast_parse_leaves_anything_odd_to_the_slow_one(bad):
    assert Purchase._from_wire_fast(bad) is None
    with pytest.raises((WireError, KeyError, TypeError, ValueError)):
        Purchase.from_wire(bad)
