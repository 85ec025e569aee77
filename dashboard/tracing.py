"""Optional OpenTelemetry export of traces: off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Without it the orchestrator still speaks W3C Trace Context on its own (`dashboard.context`): it
continues or starts a trace per request, sends `traceparent` to every upstream and logs the trace
id. With it, the OpenTelemetry Django and requests instrumentations record a server span per
request and a client span per upstream call, exported over OTLP/HTTP (the SDK reads the other
`OTEL_*` variables: headers, timeouts, `OTEL_SERVICE_NAME`, `OTEL_PYTHON_DJANGO_EXCLUDED_URLS`...);
the request context then takes its ids from the server span, so logs and traces agree.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.conf import settings

logger = logging.getLogger("dashboard.tracing")

SERVICE_NAME = "botica-orquestador"

_provider: Any = None
_lock = threading.Lock()


def enabled() -> bool:
    return _provider is not None


def configure(exporter: Any = None) -> bool:
    """Start exporting spans: to `exporter` (tests pass an in-memory one), else over OTLP/HTTP when
    `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Returns whether tracing is on."""
    global _provider
    with _lock:
        if _provider is not None:
            return True
        if exporter is None and not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
            return False
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # OTEL_SERVICE_NAME, when set, names the service; Resource.create reads it.
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
        provider = TracerProvider(resource=Resource.create(attributes))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            logger.info("OpenTelemetry: exporting traces to %s", settings.OTEL_EXPORTER_OTLP_ENDPOINT)
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        DjangoInstrumentor().instrument(tracer_provider=provider)
        RequestsInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
        return True


def shutdown() -> None:
    """Stop exporting and take the instrumentations out (tests; a process exits without it)."""
    global _provider
    with _lock:
        if _provider is None:
            return
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        DjangoInstrumentor().uninstrument()
        RequestsInstrumentor().uninstrument()
        _provider.shutdown()
        _provider = None


def current_span() -> tuple[str, str, str] | None:
    """(trace_id, span_id, flags) of the active OpenTelemetry span as hex, or None when tracing is off."""
    if _provider is None:
        return None
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}", f"{int(span_context.trace_flags):02x}"
