"""No token, password or request body reaches the logs, even at DEBUG, end to end against the sandbox.

Every logger is captured at DEBUG (django's own loggers do not propagate to the root, so the
capture handler is attached to them too). The secrets are checked in the formatted text, in the
JSON lines `LOG_FORMAT=json` would write, and in every attribute of every record.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator

import pytest

from dashboard.logging import JsonFormatter, RequestIdFilter
from sandbox import DEMO_LOGINS, Sandbox

pytestmark = pytest.mark.integration

ADMIN = next(login for login in DEMO_LOGINS if login["rol"] == "ADMIN")
ANA = next(login for login in DEMO_LOGINS if login["rol"] == "CLIENTE")
API = "/api/orchestrator"
PURCHASE_MARKER = "marcador-compra-7f3a9c"
APPROVAL_MARKER = "marcador-aprobacion-51d2e8"
REJECTION_MARKER = "marcador-rechazo-c0ffee"
NON_PROPAGATING = ("django",)  # see LOGGING in portal/settings.py


@pytest.fixture
def debug_logs(caplog) -> Iterator[pytest.LogCaptureFixture]:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="dashboard")
    saved = []
    for name in NON_PROPAGATING:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(caplog.handler)
    yield caplog
    for logger, level in saved:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)


def approvable_prescription(sb: Sandbox) -> str:
    doctor = sorted((d for d in sb.prescriptions.doctors() if d["colegiaturaValida"]), key=lambda d: d["cmp"])[0]
    issued = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2), dt.time(0), dt.UTC)
    return sb.prescriptions.add(paciente_dni=ANA["dni"], medico_cmp=doctor["cmp"], fecha_emision=issued,
                                productos=[{"id": 1, "nombre": sb.products.get(1)["nombre"], "cantidad": 1}])["_id"]


def captured_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the records could put in a log: text, JSON lines, and each attribute's value."""
    json_formatter = JsonFormatter()
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(json_formatter.format(record))
        parts.extend(f"{key}={value!r} {value}" for key, value in vars(record).items())
    return "\n".join(parts)


def test_logs_never_hold_tokens_passwords_or_bodies(client, sandbox, debug_logs):
    ana_token, admin_token = sandbox.token_for(ANA["dni"]), sandbox.token_for(ADMIN["dni"])
    receta_id = approvable_prescription(sandbox)
    rejected_id = approvable_prescription(sandbox)

    login = client.post("/login", {"identificador": ANA["email"], "password": ANA["password"]})
    wrong_login = client.post("/login", {"identificador": ADMIN["email"], "password": ADMIN["password"] + "x"})
    purchase = client.post(f"{API}/compras", content_type="application/json",
                           data=json.dumps({"productos": [{"producto_id": 1, "cantidad": 1}],
                                            "datos_adicionales": {"nota": PURCHASE_MARKER}}),
                           HTTP_AUTHORIZATION=f"Bearer {ana_token}")
    sandbox.faults("usuarios", fail={"method": "POST", "path": "/api/compras", "status": 500})
    failed_purchase = client.post(f"{API}/compras", content_type="application/json",
                                  data=json.dumps({"productos": [{"producto_id": 1, "cantidad": 1}],
                                                   "datos_adicionales": {"nota": PURCHASE_MARKER}}),
                                  HTTP_AUTHORIZATION=f"Bearer {ana_token}")
    approval = client.put(f"{API}/recetas/estado/{receta_id}", content_type="application/json",
                          data=json.dumps({"estadovalidacion": "VALIDADA", "motivo": APPROVAL_MARKER}),
                          HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    rejection = client.put(f"{API}/recetas/estado/{rejected_id}", content_type="application/json",
                           data=json.dumps({"estadovalidacion": "RECHAZADA", "motivo": REJECTION_MARKER}),
                           HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    refused_token = client.get(f"{API}/compras/me", HTTP_AUTHORIZATION=f"Bearer {ana_token}x")

    # The flows really ran (and the markers really went through the orchestrator).
    assert (login.status_code, wrong_login.status_code) == (302, 200)
    assert purchase.status_code == 201 and purchase.json()["datos_adicionales"] == {"nota": PURCHASE_MARKER}
    assert failed_purchase.status_code == 502
    assert approval.status_code == 200
    assert rejection.status_code == 200 and rejection.json()["motivo"] == REJECTION_MARKER
    assert refused_token.status_code == 401
    assert any(r.name == "dashboard.upstream" for r in debug_logs.records)
    assert any(r.name.startswith("django.request") for r in debug_logs.records)  # the 502's error log

    logged = captured_text(debug_logs)
    secrets = {"token de ANA": ana_token, "token de ADMIN": admin_token, "contraseña de ANA": ANA["password"],
               "contraseña de ADMIN": ADMIN["password"], "marcador de compra": PURCHASE_MARKER,
               "marcador de aprobación": APPROVAL_MARKER, "marcador de rechazo": REJECTION_MARKER}
    leaked = [name for name, secret in secrets.items() if secret in logged]
    assert leaked == []
