"""Fixtures for the dashboard's view tests: a signed-in client (through the real login view) and a
small upstream world registered on the `responses` mock.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from django.test import Client

from dashboard.clients.prescriptions import PROBE_ID
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import (
    doctor_payload,
    page,
    prescription_payload,
    product_payload,
    purchase_payload,
    user_payload,
)

ADMIN_DNI = "40123456"
CLIENT_DNI = "72345678"
VALID_RX = "68f7c2e4a1b2c3d4e5f60718"   # every check passes
INVALID_RX = "68f7c2e4a1b2c3d4e5f60719"  # its doctor's licence is not valid
BAD_DOCTOR = "CMP100007"


def make_token(dni: str, role: str, *, exp_in: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": dni, "role": role, "iat": now, "exp": now + exp_in}, "x" * 40, algorithm="HS256")


def sign_in(client: Client, mocked, *, role: str = "ADMIN", dni: str | None = None, exp_in: int = 3600):
    """Sign in through the real login view (the signed-cookie session is the view's own)."""
    dni = dni or (ADMIN_DNI if role == "ADMIN" else CLIENT_DNI)
    mocked.upsert("POST", f"{USERS}/api/auth/login", json={"token": make_token(dni, role, exp_in=exp_in)})
    me = user_payload(dni=dni, role=role, nombre="Rosa", apellido="Huamán")
    mocked.upsert("GET", f"{USERS}/api/user/me", json=me)
    response = client.post("/login", {"identificador": dni, "password": "secreta"})
    assert response.status_code == 302, response.content
    return response


@pytest.fixture
def admin_client(client, mocked) -> Client:
    sign_in(client, mocked, role="ADMIN")
    return client


@pytest.fixture
def client_client(client, mocked) -> Client:
    sign_in(client, mocked, role="CLIENTE")
    return client


PRODUCT_NAMES = {1: "Paracetamol 500mg", 2: "Ibuprofeno 400mg", 3: "Amoxicilina 500mg", 4: "Amoxicilina Jarabe"}
PRICES = {1: 3.5, 2: 4.5, 3: 12.9, 4: 14.0}


def purchases() -> list[dict]:
    """30 purchases: ids 1..30, product 1 in all, product 3 in every third, dated a day apart."""
    out = []
    for n in range(1, 31):
        productos, cantidades = [1], [1]
        if n % 3 == 0:
            productos, cantidades = [1, 3], [2, 1]
        out.append(purchase_payload(n, productos=productos, cantidades=cantidades,
                                    fecha=f"2025-09-{n:02d}T10:00:00.000001", usuario_id=2 + n % 2))
    return out


@pytest.fixture
def world(mocked) -> Callable[..., None]:
    """Register the upstream world; call `world(products_down=True)` etc. to vary it."""

    def build(*, products_down: bool = False, users_down: bool = False) -> None:
        if users_down:
            for path in ("/api/compras/all", "/api/compras/me", "/api/user/all"):
                mocked.upsert("GET", f"{USERS}{path}", status=503, body="down")
        else:
            mocked.upsert("GET", f"{USERS}/api/compras/all", json=purchases())
            mocked.upsert("GET", f"{USERS}/api/compras/me", json=purchases()[:4])
            mocked.upsert("GET", f"{USERS}/api/user/all",
                          json=[user_payload(dni=CLIENT_DNI), user_payload(dni=ADMIN_DNI, role="ADMIN")])
        for pid, name in PRODUCT_NAMES.items():
            if products_down:
                mocked.upsert("GET", f"{PRODUCTS}/api/productos/{pid}", status=503, body="down")
            else:
                mocked.upsert("GET", f"{PRODUCTS}/api/productos/{pid}",
                              json=product_payload(pid, nombre=name, precio=PRICES[pid], requiere_receta=pid >= 3))
        mocked.upsert("GET", f"{PRODUCTS}/api/productos/paged",
                      json=page([product_payload(pid, nombre=name) for pid, name in PRODUCT_NAMES.items()],
                                key="productos", size=500))
        mocked.upsert("GET", f"{PRODUCTS}/api/productos/nombre",
                      json=page([product_payload(pid, nombre=PRODUCT_NAMES[pid]) for pid in (3, 4)], key="productos"))
        mocked.upsert("GET", f"{PRODUCTS}/api/productos/stock-bajo",
                      json=page([product_payload(2, nombre=PRODUCT_NAMES[2], stock=3)], key="productos"))
        valid = prescription_payload(VALID_RX, productos=[(3, "AMOXICILINA  500mg", 1)])
        invalid = prescription_payload(INVALID_RX, cmp=BAD_DOCTOR, productos=[(3, "Amoxicilina 500mg", 1)])
        mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/filter", json=page([valid, invalid], size=20))
        mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{VALID_RX}", json=valid)
        mocked.upsert("GET", f"{PRESCRIPTIONS}/api/recetas/{INVALID_RX}", json=invalid)
        mocked.upsert("GET", f"{PRESCRIPTIONS}/api/medicos/filter",
                      json=page([doctor_payload("CMP100001"), doctor_payload(BAD_DOCTOR, valida=False)], key="items",
                                size_key="limit"))
        for rid, payload in ((VALID_RX, valid), (INVALID_RX, invalid)):
            mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{rid}",
                          json={"mensaje": "ok", "receta": {**payload, "estadoValidacion": "validada"}})
        for base in (USERS, PRODUCTS, PRESCRIPTIONS):
            mocked.upsert("GET", f"{base}/echo", body="ok")
        # The generation probe (an unknown state on a nonexistent id): the older generation refuses it.
        mocked.upsert("PUT", f"{PRESCRIPTIONS}/api/recetas/estado/{PROBE_ID}", status=400,
                      json={"error": "Estado de validación inválido"})

    build()
    return build


def fragment(response) -> str:
    return response.content.decode()


def is_full_page(response) -> bool:
    return "<html" in response.content.decode()
