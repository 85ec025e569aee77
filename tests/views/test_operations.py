"""ADMIN's "Operaciones pendientes": the purchase journal's open attempts, and the count on /estado."""
from __future__ import annotations

import time

from dashboard.services.purchase_saga.journal import StockStep, journal


def open_attempt(*, age: float = 3600):
    attempt = journal().begin(dni="72345678", usuario_id=None, items=[(5, 2)], clave=None, huella=None,
                              stock=[StockStep(5, 2, 40, 38)], request_id="r-1")
    attempt.inicio = time.time() - age  # an attempt left behind by a process that died an hour ago
    journal().stock(attempt, 5, "tomado")
    journal().registration(attempt, "enviado")
    return attempt


def test_operations_lists_open_attempts_with_their_steps(admin_client, world):
    attempt = open_attempt()
    body = admin_client.get("/operaciones").content.decode()
    assert f'data-intento="{attempt.id}"' in body and "72345678" in body
    assert "producto 5 × 2" in body and "tomado" in body and "enviado, sin respuesta" in body
    assert "python manage.py reconcile" in body


def test_operations_says_so_when_nothing_is_pending(admin_client, world):
    attempt = open_attempt()
    journal().finish(attempt, "registrada", status=201, body={})
    body = admin_client.get("/operaciones").content.decode()
    assert "No hay operaciones pendientes" in body and f'data-intento="{attempt.id}"' not in body


def test_operations_is_for_admin_only(client_client, world):
    assert client_client.get("/operaciones").status_code == 403


def test_status_page_counts_pending_operations(admin_client, world):
    assert "ninguna operación pendiente" in admin_client.get("/estado").content.decode()
    open_attempt()
    body = admin_client.get("/estado").content.decode()
    assert "1 compra sin resolver en el diario." in body and "/operaciones" in body
