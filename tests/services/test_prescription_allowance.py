"""Prescriptions are used up by what the buyer bought with them (services/prescription_allowance.py)."""
from __future__ import annotations

import datetime as dt

import pytest
import requests

from dashboard.errors import PrescriptionRequired, UpstreamUnavailable
from dashboard.services.buyers import known_buyer_id
from dashboard.services.prescription_allowance import (
    dispensed,
    purchase_day,
    remaining,
    uncovered_items,
    valid_pool,
)
from dashboard.types import Prescription, Purchase
from tests.conftest import PRODUCTS, USERS
from tests.payloads import prescription_payload, product_payload, purchase_payload
from tests.services.test_purchases import register
from tests.services.test_purchases_support import ANA, calls, mock_my_purchases, purchase_world

NOW = dt.datetime(2025, 10, 21, 15, 0, tzinfo=dt.UTC)  # 10:00 in Lima
AMOX = 40


def rx(rid: str, *, days_ago: int, cantidad: int = 5, estado: str = "validada", dni: str = ANA,
       product: int = AMOX) -> Prescription:
    emitted = (NOW - dt.timedelta(days=days_ago)).strftime("%Y-%m-%dT00:00:00.000Z")
    body = prescription_payload(rid * 24, dni=dni, estado=estado, productos=[(product, "Amoxicilina 500mg", cantidad)])
    return Prescription.from_wire({**body, "fechaEmision": emitted})


def bought(pid: int, *, days_ago: float, cantidad: int, product: int = AMOX) -> Purchase:
    moment = NOW - dt.timedelta(days=days_ago)
    return Purchase.from_wire(purchase_payload(pid, productos=[product], cantidades=[cantidad],
                                               fecha=moment.replace(tzinfo=None).isoformat()))


def test_a_prescription_authorises_its_quantity_once():
    pool = [rx("a", days_ago=10, cantidad=5)]
    purchases = [bought(1, days_ago=9, cantidad=5)]
    assert remaining(pool, purchases, AMOX) == 0
    short = uncovered_items(needed=[(AMOX, 1)], prescriptions=pool, purchases=purchases, dni=ANA, now=NOW)
    assert short[0].disponible == 0


def test_four_purchases_of_five_under_one_five_unit_prescription_are_not_allowed():
    pool = [rx("a", days_ago=10, cantidad=5)]
    purchases = []
    allowed = 0
    for n in range(4):
        if not uncovered_items(needed=[(AMOX, 5)], prescriptions=pool, purchases=purchases, dni=ANA, now=NOW):
            allowed += 1
            purchases.append(bought(n + 1, days_ago=5 - n, cantidad=5))
    assert allowed == 1


def test_units_bought_before_the_emission_do_not_count():
    pool = [rx("a", days_ago=3, cantidad=5)]
    purchases = [bought(1, days_ago=4, cantidad=5)]
    assert remaining(pool, purchases, AMOX) == 5


def test_a_purchase_on_the_emission_day_counts():
    pool = [rx("a", days_ago=3, cantidad=5)]
    # 3 days ago at 14:00 UTC = 09:00 in Lima, the emission day
    purchases = [bought(1, days_ago=3 - 14 / 24, cantidad=2)]
    assert remaining(pool, purchases, AMOX) == 3


def test_units_go_to_the_prescription_that_expires_first():
    old, new = rx("a", days_ago=20, cantidad=3), rx("b", days_ago=5, cantidad=4)
    purchases = [bought(1, days_ago=2, cantidad=5)]
    used = dispensed([old, new], purchases, AMOX)
    assert used == {old.id: 3, new.id: 2}
    assert remaining([old, new], purchases, AMOX) == 2


def test_a_purchase_before_the_newer_prescription_only_uses_the_older_one():
    old, new = rx("a", days_ago=20, cantidad=3), rx("b", days_ago=5, cantidad=4)
    purchases = [bought(1, days_ago=10, cantidad=6)]  # 3 beyond the old one: bought under none
    assert dispensed([old, new], purchases, AMOX) == {old.id: 3, new.id: 0}
    assert remaining([old, new], purchases, AMOX) == 4


def test_other_products_do_not_use_a_prescription_up():
    pool = [rx("a", days_ago=10, cantidad=5)]
    assert remaining(pool, [bought(1, days_ago=2, cantidad=9, product=41)], AMOX) == 5


def test_the_pool_is_validated_unexpired_and_the_buyers_own():
    pool = valid_pool([rx("a", days_ago=10), rx("b", days_ago=40), rx("c", days_ago=1, estado="pendiente"),
                       rx("d", days_ago=1, dni="70112233")], ANA, now=NOW)
    assert [p.id for p in pool] == ["a" * 24]


def test_purchase_day_is_the_lima_calendar_day():
    late = Purchase.from_wire(purchase_payload(1, fecha="2025-10-21T03:30:00"))  # naive UTC: 22:30 the 20th in Lima
    assert purchase_day(late) == dt.date(2025, 10, 20)


# Through purchase_register -------------------------------------------------------------------------
AMOX_PRODUCT = product_payload(AMOX, nombre="Amoxicilina 500mg", requiere_receta=True, stock=100)


def five_unit_prescription() -> dict:
    return prescription_payload(productos=[(AMOX, "Amoxicilina 500mg", 5)], estado="validada", days_ago=3)


def test_purchase_register_refuses_units_beyond_what_is_left_naming_them(mocked):
    purchase_world(mocked, AMOX_PRODUCT, prescriptions=[five_unit_prescription()])
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(tzinfo=None).isoformat()
    mock_my_purchases(mocked, [purchase_payload(7, productos=[AMOX], cantidades=[4], fecha=yesterday)])
    with pytest.raises(PrescriptionRequired) as raised:
        register((AMOX, 2))
    assert raised.value.details["unidades_disponibles"] == [{"producto_id": AMOX, "solicitado": 2, "disponible": 1}]
    register((AMOX, 1))  # the last unit is still authorised
    assert known_buyer_id(ANA) == 3  # learnt from the buyer's own purchases


def test_purchase_register_reads_the_buyers_purchases_only_when_a_prescription_is_needed(mocked):
    purchase_world(mocked, product_payload(1))
    register((1, 1))
    assert calls(mocked, "GET", f"{USERS}/api/compras/me") == 0


def test_purchase_register_cannot_check_without_the_buyers_purchases(mocked):
    purchase_world(mocked, AMOX_PRODUCT, prescriptions=[five_unit_prescription()])
    mocked.upsert("GET", f"{USERS}/api/compras/me", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable):  # "could not check", never "no prescription"
        register((AMOX, 1))


def test_listing_my_purchases_through_the_api_teaches_the_buyers_internal_id(client, mocked):
    from tests.payloads import user_payload

    mocked.get(f"{USERS}/api/user/me", json=user_payload(ANA))
    mocked.get(f"{USERS}/api/compras/me", json=[purchase_payload(1, usuario_id=9, productos=[1])])
    mocked.get(f"{PRODUCTS}/api/productos/1", json=product_payload(1))
    assert known_buyer_id(ANA) is None
    assert client.get("/api/orchestrator/compras/me", HTTP_AUTHORIZATION="Bearer a.b.c").status_code == 200
    assert known_buyer_id(ANA) == 9
