"""The decision history: every approve / reject / reset recorded append-only, from the service."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from dashboard import audit
from dashboard.errors import OutcomeUncertain, PrescriptionInvalid
from tests.conftest import PRESCRIPTIONS
from tests.payloads import prescription_payload
from tests.services.test_prescriptions import ADMIN, RID, mock_world, set_state


def history(settings) -> list[dict]:
    path = Path(settings.DECISION_AUDIT_LOG)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def mock_write(mocked, estado: str) -> None:
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}",
               json={"mensaje": "ok", "receta": prescription_payload(RID, estado=estado)})


def test_audit_records_an_approval_with_who_when_from_and_checks(mocked, settings):
    mock_world(mocked)
    mock_write(mocked, "validada")
    set_state("VALIDADA")
    [entry] = history(settings)
    assert entry["receta_id"] == RID
    assert (entry["estado_anterior"], entry["estado"], entry["resultado"]) == ("pendiente", "validada", "ok")
    assert entry["usuario_dni"] == ADMIN.dni and entry["usuario_nombre"] == "Rosa Huamán"
    assert entry["validaciones"]["medico"]["ok"] is True
    assert entry["origen"] == "api"
    assert dt.datetime.fromisoformat(entry["fecha"]).tzinfo is not None


def test_audit_records_a_rejection_with_its_reason_appending(mocked, settings):
    mock_world(mocked)
    mock_write(mocked, "rechazada")
    set_state("RECHAZADA", motivo="Firma ilegible")
    set_state("PENDIENTE")
    first, second = history(settings)
    assert (first["estado"], first["motivo"]) == ("rechazada", "Firma ilegible")
    assert second["estado"] == "pendiente"


def test_audit_records_nothing_for_a_refused_approval(mocked, settings):
    mock_world(mocked, doctors=[])
    with pytest.raises(PrescriptionInvalid):
        set_state("VALIDADA")
    assert history(settings) == []


def test_audit_records_an_uncertain_write_as_incierto(mocked, settings):
    mock_world(mocked)
    mocked.put(f"{PRESCRIPTIONS}/api/recetas/estado/{RID}", body=requests.exceptions.ReadTimeout())
    with pytest.raises(OutcomeUncertain):
        set_state("RECHAZADA")
    [entry] = history(settings)
    assert entry["resultado"] == "incierto"


def test_audit_origin_names_the_dashboard(mocked, settings):
    mock_world(mocked)
    mock_write(mocked, "rechazada")
    with audit.origin("panel"):
        set_state("RECHAZADA")
    assert history(settings)[0]["origen"] == "panel"


def test_audit_decisions_filter_newest_first_and_skip_torn_lines(settings):
    path = Path(settings.DECISION_AUDIT_LOG)
    path.parent.mkdir(parents=True)
    lines = [{"fecha": "2025-10-20T15:00:00+00:00", "receta_id": "a" * 24, "estado": "validada", "usuario_dni": "1"},
             {"fecha": "2025-10-21T15:00:00+00:00", "receta_id": "b" * 24, "estado": "rechazada", "usuario_dni": "2"}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn\n")
    assert [d["receta_id"] for d in audit.decisions()] == ["b" * 24, "a" * 24]
    assert [d["receta_id"] for d in audit.decisions(audit.DecisionFilters(estado="validada"))] == ["a" * 24]
    assert [d["usuario_dni"] for d in audit.decisions(audit.DecisionFilters(desde=dt.date(2025, 10, 21)))] == ["2"]


def test_audit_failure_to_record_never_fails_the_decision(mocked, settings, caplog):
    settings.DECISION_AUDIT_LOG = "/proc/no-se-puede/decisiones.jsonl"
    mock_world(mocked)
    mock_write(mocked, "rechazada")
    assert set_state("RECHAZADA")["receta"]
    assert "not recorded" in caplog.text

