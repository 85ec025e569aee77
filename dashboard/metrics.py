"""Prometheus metrics: what the orchestrator counts, and `/metrics`, which shows them.

Every metric is named and labelled here, with bounded label values: a route is the URL pattern's
name (never the raw path), an upstream route is the client's path template, an outcome or state is
one of a few words. Other modules call the small functions below and never touch prometheus_client.

With several gunicorn workers, `gunicorn.conf.py` sets `PROMETHEUS_MULTIPROC_DIR` before the
workers start: each worker then writes its samples to files there and `/metrics` (whichever worker
answers) adds them up. `/metrics` answers loopback and `METRICS_ALLOWED_IPS` only.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import os
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import choose_encoder

logger = logging.getLogger("dashboard.metrics")

PREFIX = "orchestrator"
# Request and upstream latency buckets (seconds), dense around the p95 target of docs/ops (1 s).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PURCHASE_OUTCOMES = ("registered", "refused", "compensated", "uncertain")
BREAKER_STATES = ("closed", "open", "half_open")
UNMATCHED_ROUTE = "unmatched"

http_requests = Counter(
    f"{PREFIX}_http_requests_total", "Requests answered, by URL pattern name, method and status.",
    ["route", "method", "status"])
http_request_seconds = Histogram(
    f"{PREFIX}_http_request_duration_seconds", "Time to answer a request, by URL pattern name and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS)
upstream_requests = Counter(
    f"{PREFIX}_upstream_requests_total",
    "Upstream calls (each attempt), by service, route template, method and outcome.",
    ["service", "route", "method", "outcome"])
upstream_request_seconds = Histogram(
    f"{PREFIX}_upstream_request_duration_seconds", "Time of each upstream attempt, by service and route template.",
    ["service", "route", "method"], buckets=LATENCY_BUCKETS)
breaker_state = Gauge(
    f"{PREFIX}_circuit_breaker_state", "1 for the current state of each upstream's circuit breaker, else 0.",
    ["service", "state"], multiprocess_mode="livemax")
purchases = Counter(
    f"{PREFIX}_purchases_total", "Purchases by outcome: registered, refused, compensated, uncertain.", ["outcome"])
journal_pending = Gauge(
    f"{PREFIX}_compensation_journal_pending",
    "Compensation journal entries waiting for a person (NaN: the journal could not be read).",
    multiprocess_mode="mostrecent")
receipt_errors = Counter(
    f"{PREFIX}_purchase_receipt_errors_total",
    "Purchases stored upstream whose receipt could not be built whole (answered 201 with what is known).")
rate_limited = Counter(f"{PREFIX}_rate_limited_total", "Requests refused by a rate limit, by limit.", ["scope"])
cache_errors = Counter(f"{PREFIX}_cache_errors_total", "Cache operations that failed, by operation.", ["operation"])

for _outcome in PURCHASE_OUTCOMES:
    purchases.labels(_outcome)  # every outcome shows from the start, at 0


# -- what other modules call -------------------------------------------------------------------------
def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    http_requests.labels(route, method, str(status)).inc()
    http_request_seconds.labels(route, method).observe(seconds)


def upstream_outcome(status: int) -> str:
    """The outcome label of an answered upstream call."""
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "success"


def observe_upstream(service: str, route: str, method: str, outcome: str, seconds: float | None) -> None:
    """One upstream attempt; `seconds` is None when no request left (the circuit was open)."""
    upstream_requests.labels(service, route, method, outcome).inc()
    if seconds is not None:
        upstream_request_seconds.labels(service, route, method).observe(seconds)


def set_breaker_state(service: str, state: str) -> None:
    for known in BREAKER_STATES:
        breaker_state.labels(service, known).set(1 if known == state else 0)


def record_purchase(outcome: str) -> None:
    """Count one purchase: `registered` (201), `refused` (business 400), `compensated` (stock given
    back after a failed write), `uncertain` (the outcome of a write is unknown)."""
    if outcome not in PURCHASE_OUTCOMES:
        raise ValueError(f"unknown purchase outcome {outcome!r}; expected one of {PURCHASE_OUTCOMES}")
    purchases.labels(outcome).inc()


def record_receipt_error() -> None:
    receipt_errors.inc()


def record_rate_limited(scope: str) -> None:
    rate_limited.labels(scope).inc()


def record_cache_error(operation: str) -> None:
    cache_errors.labels(operation).inc()


# -- journal entries pending ---------------------------------------------------------------------------
def journal_open_attempts() -> int:
    """The default provider: purchase attempts still open in the purchase journal."""
    from dashboard.services.purchase_saga.journal import journal  # the journal builds on this module's peers

    return len(journal().open_attempts())


_pending_provider: Callable[[], int] = journal_open_attempts
_provider_lock = threading.Lock()


def set_pending_journal_provider(provider: Callable[[], int] | None) -> None:
    """Who knows how many journal entries are pending; called at each scrape (None: the default)."""
    global _pending_provider
    with _provider_lock:
        _pending_provider = provider or journal_open_attempts


def _refresh_journal_pending() -> None:
    with _provider_lock:
        provider = _pending_provider
    try:
        journal_pending.set(float(provider()))
    except Exception:  # noqa: BLE001 - unknown is not 0: the gauge says NaN and the log says why
        logger.warning("could not count pending journal entries", exc_info=True)
        journal_pending.set(math.nan)


def _refresh_breakers() -> None:
    """States that change with time alone (open -> half-open) are read again at each scrape."""
    from dashboard.clients.breakers import publish_all

    publish_all()


# -- /metrics ----------------------------------------------------------------------------------------
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = list(LOOPBACK)
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {entry!r} is not an address or network") from exc
    return networks


def may_scrape(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed_networks())


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The exposition in the format `accept` asks for (Prometheus text 0.0.4 by default, or
    OpenMetrics) and its content type, after refreshing what is read at scrape time."""
    _refresh_journal_pending()
    _refresh_breakers()
    encoder, content_type = choose_encoder(accept or "")
    if multiprocess_dir():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return encoder(registry), content_type
    return encoder(REGISTRY), content_type


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    if not may_scrape(request.META.get("REMOTE_ADDR", "")):
        from dashboard.middleware import error_json

        return error_json(403, _("Acceso denegado"), "acceso_denegado")
    body, content_type = exposition(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)
