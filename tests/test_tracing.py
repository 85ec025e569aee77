"""W3C trace context: continued or started per request, sent to every upstream call as a child span,
logged; and the optional OpenTelemetry export, checked with an in-memory exporter."""
from __future__ import annotations

import json
import logging
import re

import pytest
from django.test import Client

from dashboard import context, tracing
from dashboard.clients import ProductsClient
from dashboard.concurrency import gather
from dashboard.logging import JsonFormatter, RequestIdFilter
from tests.conftest import PRODUCTS, USERS
from tests.payloads import product_payload, purchase_payload, user_payload

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
CHILD = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
AUTH = {"HTTP_AUTHORIZATION": "Bearer cabecera.cuerpo.firma"}


def sent_traceparents(mocked) -> list[tuple[str, str, str]]:
    found = []
    for call in mocked.calls:
        match = CHILD.fullmatch(call.request.headers["traceparent"])
        assert match, call.request.headers["traceparent"]
        found.append(match.groups())
    return found


# Parsing ----------------------------------------------------------------------------------------------
def test_a_valid_traceparent_is_parsed():
    assert context.parse_traceparent(TRACEPARENT) == (TRACE_ID, PARENT_ID, "01")
    assert context.parse_traceparent(f" 00-{TRACE_ID}-{PARENT_ID}-00 ") == (TRACE_ID, PARENT_ID, "00")
    # A later version may add fields after the flags; version 00 may not.
    assert context.parse_traceparent(f"cc-{TRACE_ID}-{PARENT_ID}-01-extra") == (TRACE_ID, PARENT_ID, "01")


@pytest.mark.parametrize("value", [
    None, "", "basura", f"00-{TRACE_ID}-{PARENT_ID}", f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
    f"00-{'0' * 32}-{PARENT_ID}-01", f"00-{TRACE_ID}-{'0' * 16}-01", f"ff-{TRACE_ID}-{PARENT_ID}-01",
    f"00-{TRACE_ID}-{PARENT_ID}-01-extra", f"00-{TRACE_ID}-{PARENT_ID}-1", f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",
    f"00-{TRACE_ID}-{PARENT_ID}-01" + "x" * 600, "00-\n" + TRACE_ID,
])
def test_an_invalid_traceparent_is_refused(value):
    assert context.parse_traceparent(value) is None


# Requests -> upstream calls ----------------------------------------------------------------------------
def mock_listing(mocked) -> None:
    mocked.get(f"{USERS}/api/user/me", json=user_payload())
    mocked.get(f"{USERS}/api/compras/me", json=[purchase_payload(productos=[1, 2])])
    mocked.get(f"{PRODUCTS}/api/productos/1", json=product_payload(1))
    mocked.get(f"{PRODUCTS}/api/productos/2", json=product_payload(2))


def test_the_callers_trace_reaches_every_upstream_call_as_a_new_child_span(client, mocked):
    mock_listing(mocked)
    response = client.get("/api/orchestrator/compras/me", HTTP_TRACEPARENT=TRACEPARENT,
                          HTTP_TRACESTATE="vendor=abc", HTTP_X_REQUEST_ID="req-77", **AUTH)
    assert response.status_code == 200
    children = sent_traceparents(mocked)
    assert len(children) == 4  # me, purchases, two products (concurrently, from pool threads)
    assert {trace for trace, _span, _flags in children} == {TRACE_ID}
    assert {flags for _trace, _span, flags in children} == {"01"}
    spans = [span for _trace, span, _flags in children]
    assert len(set(spans)) == 4 and PARENT_ID not in spans  # one new span per call, never the caller's
    assert all(c.request.headers["X-Request-ID"] == "req-77" for c in mocked.calls)
    assert all(c.request.headers["tracestate"] == "vendor=abc" for c in mocked.calls)


def test_without_a_valid_traceparent_a_new_trace_is_started_per_request(client, mocked):
    mock_listing(mocked)
    client.get("/api/orchestrator/compras/me", HTTP_TRACEPARENT=f"00-{'0' * 32}-{PARENT_ID}-01",
               HTTP_TRACESTATE="vendor=abc", **AUTH)
    first = {trace for trace, _s, _f in sent_traceparents(mocked)}
    assert len(first) == 1 and first != {"0" * 32}
    assert all("tracestate" not in c.request.headers for c in mocked.calls)  # it belonged to the refused trace
    calls_before = len(mocked.calls)
    client.get("/api/orchestrator/compras/me", **AUTH)
    second = {CHILD.fullmatch(c.request.headers["traceparent"]).group(1) for c in mocked.calls[calls_before:]}
    assert len(second) == 1 and second != first


def test_calls_on_worker_threads_keep_the_trace_of_their_request(mocked):
    mocked.get(f"{PRODUCTS}/api/productos/1", json=product_payload(1))
    mocked.get(f"{PRODUCTS}/api/productos/2", json=product_payload(2))
    ctx, token = context.begin("req-1", traceparent=TRACEPARENT)
    try:
        gather([lambda: ProductsClient().product_get(1), lambda: ProductsClient().product_get(2)])
    finally:
        context.end(token)
    assert {trace for trace, _s, _f in sent_traceparents(mocked)} == {TRACE_ID}


# Logs --------------------------------------------------------------------------------------------------
def test_log_lines_carry_the_trace_id(client, mocked, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="dashboard.upstream")  # a call that succeeds logs at DEBUG
    mock_listing(mocked)
    client.get("/api/orchestrator/compras/me", HTTP_TRACEPARENT=TRACEPARENT, **AUTH)
    records = [r for r in caplog.records if r.name in ("dashboard.request", "dashboard.upstream")]
    assert len(records) == 5
    for record in records:
        RequestIdFilter().filter(record)
        assert json.loads(JsonFormatter().format(record))["trace_id"] == TRACE_ID
    upstream_spans = {r.span_id for r in records if r.name == "dashboard.upstream"}
    assert upstream_spans == {span for _t, span, _f in sent_traceparents(mocked)}  # a log line per child span


def test_text_log_format_shows_the_trace_id(settings):
    assert "%(trace_id)s" in settings.LOGGING["formatters"]["text"]["format"]
    record = logging.makeLogRecord({"msg": "x"})
    RequestIdFilter().filter(record)  # outside a request
    assert (record.request_id, record.trace_id) == ("-", "-")


# OpenTelemetry ----------------------------------------------------------------------------------------
def test_opentelemetry_is_off_without_an_endpoint(settings):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = ""
    assert tracing.configure() is False and not tracing.enabled()


@pytest.fixture
def exported():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    assert tracing.configure(exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def test_opentelemetry_exports_a_server_span_and_a_client_span_per_upstream_call(exported, mocked, caplog):
    from opentelemetry.trace import SpanKind

    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="dashboard.upstream")
    mock_listing(mocked)
    response = Client().get("/api/orchestrator/compras/me", HTTP_TRACEPARENT=TRACEPARENT, **AUTH)
    assert response.status_code == 200
    spans = exported.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    clients = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert len(server) == 1 and len(clients) == 4
    assert {f"{s.context.trace_id:032x}" for s in spans} == {TRACE_ID}
    assert f"{server[0].parent.span_id:016x}" == PARENT_ID
    assert all(s.parent.span_id == server[0].context.span_id for s in clients)
    # What each upstream received names the client span that was exported for it, and so do the logs.
    exported_ids = {f"{s.context.span_id:016x}" for s in clients}
    assert {span for _t, span, _f in sent_traceparents(mocked)} == exported_ids
    logged = [r for r in caplog.records if r.name == "dashboard.upstream"]
    assert {r.span_id for r in logged} == exported_ids
    assert {r.trace_id for r in caplog.records if r.name == "dashboard.request"} == {TRACE_ID}


def test_opentelemetry_shutdown_takes_the_instrumentation_out(mocked):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracing.configure(exporter=exporter)
    tracing.shutdown()
    mock_listing(mocked)
    assert Client().get("/api/orchestrator/compras/me", **AUTH).status_code == 200
    assert exporter.get_finished_spans() == ()
    assert len(sent_traceparents(mocked)) == 4  # our own propagation goes on
