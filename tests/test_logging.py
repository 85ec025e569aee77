"""Log lines: JSON format with the request id, and no secrets at any level."""
from __future__ import annotations

import json
import logging

from dashboard import context
from dashboard.logging import JsonFormatter, RequestIdFilter


def test_json_formatter_writes_one_object_per_line_with_request_id_and_extras():
    record = logging.makeLogRecord({"name": "dashboard.upstream", "levelname": "INFO", "levelno": 20,
                                    "msg": "upstream %s", "args": ("x",), "servicio": "productos_y_ofertas",
                                    "ms": 12.5})
    ctx, token = context.begin("req-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        context.end(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["request_id"] == "req-9"
    assert payload["message"] == "upstream x"
    assert payload["servicio"] == "productos_y_ofertas" and payload["ms"] == 12.5


def test_request_log_line_has_route_status_and_upstream_time(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get("/api/orchestrator/health", HTTP_X_REQUEST_ID="trace-1")
    lines = [r for r in caplog.records if r.name == "dashboard.request"]
    assert len(lines) == 1
    assert lines[0].estado == 200 and lines[0].ruta == "api/orchestrator/health"
    assert "upstream;dur=" in response["Server-Timing"] and "app;dur=" in response["Server-Timing"]


def test_upstream_wall_time_counts_overlapping_calls_once():
    ctx = context.RequestContext()
    ctx.record_upstream(0.0, 0.020)
    ctx.record_upstream(0.005, 0.025)  # overlaps the first
    ctx.record_upstream(0.100, 0.110)
    assert round(ctx.upstream_wall_ms(), 3) == 35.0
    assert round(ctx.upstream_ms, 3) == 50.0 and ctx.upstream_calls == 3
