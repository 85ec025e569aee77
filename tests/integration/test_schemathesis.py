"""Property-based run of the whole API, driven by its own OpenAPI document, against the sandbox.

Schemathesis generates requests from /api/orchestrator/openapi.json (valid ones, and invalid ones
where an operation takes input), sends them to the in-process WSGI app with a real bearer token
(ADMIN in one run, CLIENTE in the other) while the sandbox plays the three upstreams, and checks
every answer: never a 5xx, only documented statuses, headers, content types and bodies, invalid
input always refused, routes that need a token refuse to work without one, and never a traceback
or an HTML page under /api/. Deterministic (`derandomize`), so a failure reproduces.

`positive_data_acceptance` is left out on purpose: a schema-valid purchase may still be refused
with a documented 400 (unknown product, no stock, `404.0` is an integer to JSON Schema but not to
the API), which no schema can express.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from schemathesis.core.failures import FailureGroup

from dashboard.clients.breakers import reset_breakers
from portal.wsgi import application
from sandbox import DEMO_LOGINS, Sandbox

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 60
MIN_REQUESTS_PER_RUN = 200
DNI_BY_ROLE = {login["rol"]: login["dni"] for login in reversed(DEMO_LOGINS)}  # the first of each role


def json_only(ctx, response, case) -> None:
    """Under /api/ every answer is JSON: never an HTML page, never a traceback."""
    content_type = response.headers.get("content-type", [""])[0]
    text = response.content.decode("utf-8", "replace")
    assert content_type.startswith("application/json"), f"not JSON: {content_type!r}"
    assert "Traceback" not in text and "<html" not in text.lower(), "a traceback or HTML in the body"


CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
    st_checks.missing_required_header,
    st_checks.unsupported_method,
    st_checks.ignored_auth,
    json_only,
]


@pytest.fixture(scope="module")
def api_schema():
    config = schemathesis.Config.from_dict({"generation": {
        # Unknown query keys are ignored by design, and the token is ours, not generated.
        "allow-extra-parameters": False,
        "with-security-parameters": False,
        "deterministic": True,
    }})
    return schemathesis.openapi.from_wsgi("/api/orchestrator/openapi.json", application, config=config)


def real_prescription_ids(sb: Sandbox) -> list[str]:
    """One prescription that passes every check, one that fails some, one already validated."""
    doctor = sorted((d for d in sb.prescriptions.doctors() if d["colegiaturaValida"]), key=lambda d: d["cmp"])[0]
    issued = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2), dt.time(0), dt.UTC)
    approvable = sb.prescriptions.add(paciente_dni=DNI_BY_ROLE["CLIENTE"], medico_cmp=doctor["cmp"],
                                      fecha_emision=issued,
                                      productos=[{"id": 1, "nombre": sb.products.get(1)["nombre"], "cantidad": 1}])
    pending = [r["_id"] for r in sb.prescriptions.all() if r["estadoValidacion"] == "pendiente"]
    validated = [r["_id"] for r in sb.prescriptions.all() if r["estadoValidacion"] == "validada"]
    return [approvable["_id"], pending[0], validated[0]]


def strategy_for(operation, mode: GenerationMode, prescription_ids: list[str]):
    """Generated cases; for a prescription route, also cases aimed at prescriptions that exist."""
    generated = operation.as_strategy(generation_mode=mode)
    if "receta_id" not in operation.path or mode is GenerationMode.NEGATIVE:
        return generated
    aimed = [operation.as_strategy(generation_mode=mode, path_parameters={"receta_id": rid})
             for rid in prescription_ids]
    return st.one_of(generated, *aimed)


def takes_input(operation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(list(operation.body))


@pytest.mark.parametrize("role", ["ADMIN", "CLIENTE"])
def test_api_every_generated_request_gets_a_documented_answer(api_schema, sandbox, settings, role):
    settings.API_RATE_LIMIT = 1_000_000
    token = sandbox.token_for(DNI_BY_ROLE[role])
    statuses: Counter[int] = Counter()
    failures: dict[str, str] = {}

    for result in api_schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes_input(operation) else [])
        for mode in modes:
            sandbox.reset()
            cache.clear()
            reset_breakers()
            strategy = strategy_for(operation, mode, real_prescription_ids(sandbox))

            @given(case=strategy)
            @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
                                 database=None, phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            def run(case) -> None:
                response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
                statuses[response.status_code] += 1

            try:
                run()
            except (FailureGroup, Exception) as exc:  # noqa: BLE001 - report every operation's failures together
                failures[f"{operation.label} ({mode.value})"] = str(exc)

    print(f"{role}: {sum(statuses.values())} generated requests, by status {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    assert sum(statuses.values()) >= MIN_REQUESTS_PER_RUN, statuses
