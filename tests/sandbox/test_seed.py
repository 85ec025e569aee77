"""The seed: deterministic, believable, and covering the cases the orchestrator must handle."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from sandbox import DEMO_LOGINS, Sandbox, seed

from .conftest import ADMIN_DNI, ANA_DNI

pytestmark = pytest.mark.integration

TYPES = {"Antibiotico", "Antiinflamatorio", "Antihistaminico", "Antimicotico", "Dermocosmetica", "Antigripal",
         "Analgesico", "Vitaminas", "Broncodilatador", "Antiacido"}
NOW = datetime(2025, 10, 21, 17, 11, 47)


def valid_until(prescription):
    issued = datetime.fromisoformat(prescription["fechaEmision"])
    return issued + timedelta(days=seed.PRESCRIPTION_VALIDITY_DAYS)


def test_build_is_deterministic():
    assert seed.build(NOW) == seed.build(NOW)
    assert seed.build(NOW).products != seed.build(NOW + timedelta(days=1)).products  # dates follow "today"


def test_two_sandboxes_hold_the_same_data():
    first, second = Sandbox(), Sandbox()
    assert first.products.all() == second.products.all()
    assert first.users.all() == second.users.all()
    assert first.users.purchases() == second.users.purchases()
    assert first.prescriptions.all() == second.prescriptions.all()
    assert first.prescriptions.doctors() == second.prescriptions.doctors()


def test_products():
    products = seed.build(NOW).products
    assert len(products) >= 60
    assert {product["tipo"] for product in products} == TYPES
    assert [product["id"] for product in products] == list(range(1, len(products) + 1))
    prescribed = sum(product["requiere_receta"] for product in products)
    assert 0.25 <= prescribed / len(products) <= 0.4
    assert sum(product["stock"] == 0 for product in products) >= 3
    assert sum(0 < product["stock"] < 10 for product in products) >= 3
    assert all(product["precio"] > 0 for product in products)
    assert products[39]["nombre"] == "Amoxicilina 500mg"


def test_offers_include_an_expired_one():
    offers = seed.build(NOW).offers
    assert len(offers) >= 3
    assert any(datetime.fromisoformat(offer["fecha_vencimiento"]) < NOW for offer in offers)


def test_doctors():
    doctors = seed.build(NOW).doctors
    assert len(doctors) >= 100
    assert all(re.fullmatch(r"CMP1\d{5}", doctor["cmp"]) for doctor in doctors)
    assert len({doctor["cmp"] for doctor in doctors}) == len(doctors)
    assert 5 <= sum(not doctor["colegiaturaValida"] for doctor in doctors) <= 20
    assert all(re.fullmatch(r"[0-9a-f]{24}", doctor["_id"]) for doctor in doctors)


def test_users():
    users = seed.build(NOW).users
    assert Counter(user["role"] for user in users) == {"ADMIN": 1, "CLIENTE": len(users) - 1}
    assert len(users) - 1 >= 10
    assert all(re.fullmatch(r"\d{8}", user["dni"]) for user in users)
    assert {ADMIN_DNI, ANA_DNI} <= {user["dni"] for user in users}


def test_demo_logins():
    roles = {login["rol"]: login for login in DEMO_LOGINS}
    assert roles["ADMIN"] == {"rol": "ADMIN", "dni": "40123456", "email": "admin@botica.pe", "password": "Admin123!"}
    assert {"rol": "CLIENTE", "dni": "72345678", "email": "ana.quispe@example.com",
            "password": "Cliente123!"} in DEMO_LOGINS


def test_prescriptions_cover_every_case():
    data = seed.build(NOW)
    prescriptions = data.prescriptions
    now_utc = NOW.replace(tzinfo=UTC)
    catalogue = {product["id"]: product["nombre"] for product in data.products}
    invalid = {doctor["cmp"] for doctor in data.doctors if not doctor["colegiaturaValida"]}
    assert len(prescriptions) >= 30
    assert {item["estadoValidacion"] for item in prescriptions} == {"pendiente", "validada", "rechazada"}
    assert any(valid_until(item) < now_utc for item in prescriptions)
    assert any(datetime.fromisoformat(item["fechaEmision"]) > now_utc for item in prescriptions)
    assert any(item["medicoCMP"] in invalid for item in prescriptions)
    lines = [line for item in prescriptions for line in item["productos"]]
    assert any(line["id"] in catalogue and line["nombre"] != catalogue[line["id"]] for line in lines)
    assert any(line["id"] not in catalogue for line in lines)


def test_ana_has_valid_approved_prescriptions_and_purchases():
    data = seed.build(NOW)
    now_utc = NOW.replace(tzinfo=UTC)
    valid = [item for item in data.prescriptions
             if item["pacienteDNI"] == ANA_DNI and item["estadoValidacion"] == "validada"
             and datetime.fromisoformat(item["fechaEmision"]) <= now_utc <= valid_until(item)]
    assert len(valid) >= 2
    prescribed = {product["id"] for product in data.products if product["requiere_receta"]}
    covered = {line["id"] for item in valid for line in item["productos"]}
    assert covered & prescribed
    ana_id = next(user["id"] for user in data.users if user["dni"] == ANA_DNI)
    assert sum(purchase["usuarioId"] == ana_id for purchase in data.purchases) >= 5


def test_purchases_spread_over_months_and_customers():
    data = seed.build(NOW)
    assert len(data.purchases) >= 100
    dates = [datetime.fromisoformat(purchase["fechaCompra"]) for purchase in data.purchases]
    assert max(dates) < NOW and (max(dates) - min(dates)).days > 90
    assert len({purchase["usuarioId"] for purchase in data.purchases}) >= 10
    assert all(len(p["productos"]) == len(p["cantidades"]) > 0 for p in data.purchases)
