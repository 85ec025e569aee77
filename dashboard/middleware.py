"""Request context, body size limit, and the one place where errors become responses.

Under /api/ every error is JSON `{"error", "details": {"code", ...}}`; elsewhere an HTML page in
the dashboard's look (or, for HTMX, an alert fragment retargeted to #alerts).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from dashboard import context, metrics, ratelimit, tracing
from dashboard.errors import OrchestratorError, TooManyRequests
from dashboard.responses import error_json, is_api
from dashboard.views.errors import html_error_response  # the HTML side decides its own look

logger = logging.getLogger("dashboard.request")

_GENERIC_MESSAGES = {
    400: "Solicitud inválida",
    401: "Token de autenticación requerido",
    403: "Acceso denegado",
    404: "Ruta no encontrada",
    405: "Método no permitido",
    413: "El cuerpo de la solicitud es demasiado grande",
    414: "La URI de la solicitud es demasiado larga",
    429: "Demasiadas solicitudes",
    500: "Error interno del orquestador",
}
_GENERIC_CODES = {
    400: "solicitud_invalida", 401: "token_requerido", 403: "acceso_denegado", 404: "ruta_no_encontrada",
    405: "metodo_no_permitido", 413: "cuerpo_demasiado_grande",
    414: "uri_demasiado_larga", 429: "demasiadas_solicitudes",
    500: "error_interno",
}


def render_error(request: HttpRequest, error: OrchestratorError) -> HttpResponse:
    if is_api(request):
        response = JsonResponse(error.as_dict(), status=error.status, json_dumps_params={"ensure_ascii": False})
    else:
        response = html_error_response(request, error)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    for name, value in getattr(error, "headers", {}).items():
        response[name] = value
    return response


class RequestContextMiddleware:
    """Request id and trace context in, request id out, upstream vs own time (`Server-Timing`),
    one access log line and the request metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        ctx, token = context.begin(request.headers.get("X-Request-ID"), deadline_seconds=settings.UPSTREAM_DEADLINE,
                                   traceparent=request.headers.get("traceparent"),
                                   tracestate=request.headers.get("tracestate"), span=tracing.current_span())
        request.request_id = ctx.request_id
        try:
            response = self.get_response(request)
            total_ms = (time.perf_counter() - started) * 1000
            response["X-Request-ID"] = ctx.request_id
            upstream_wall_ms = ctx.upstream_wall_ms()
            own_ms = max(total_ms - upstream_wall_ms, 0.0)
            # `upstream` is wall time with at least one call in flight; `app` is ours alone.
            response["Server-Timing"] = (
                f"upstream;dur={upstream_wall_ms:.1f};desc=\"{ctx.upstream_calls} llamadas\", "
                f"app;dur={own_ms:.1f}, total;dur={total_ms:.1f}"
            )
            match = getattr(request, "resolver_match", None)
            route = match.route if match else request.path
            metrics.observe_request(match.view_name if match else metrics.UNMATCHED_ROUTE, request.method,
                                    response.status_code, total_ms / 1000)
            logger.info(
                "%s %s -> %s in %.1f ms (upstream %.1f ms, own %.1f ms, %d calls)",
                request.method, route, response.status_code, total_ms, upstream_wall_ms, own_ms, ctx.upstream_calls,
                extra={"ruta": route, "metodo": request.method, "estado": response.status_code,
                       "ms": round(total_ms, 1), "upstream_ms": round(upstream_wall_ms, 1),
                       "propio_ms": round(own_ms, 1), "upstream_llamadas": ctx.upstream_calls},
            )
            return response
        finally:
            context.end(token)


class BodySizeLimitMiddleware:
    """414 for a URI longer than `MAX_URI_BYTES`; 413 before reading a body larger than `MAX_BODY_BYTES`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        uri_bytes = len(request.META.get("PATH_INFO", "")) + len(request.META.get("QUERY_STRING", ""))
        if uri_bytes > settings.MAX_URI_BYTES:
            if is_api(request):
                return error_json(414, _(_GENERIC_MESSAGES[414]), "uri_demasiado_larga",
                                  limite_bytes=settings.MAX_URI_BYTES)
            return HttpResponse(_(_GENERIC_MESSAGES[414]), status=414, content_type="text/plain; charset=utf-8")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_BODY_BYTES:
            if is_api(request):
                return error_json(413, _(_GENERIC_MESSAGES[413]), "cuerpo_demasiado_grande",
                                  limite_bytes=settings.MAX_BODY_BYTES)
            return HttpResponse(_(_GENERIC_MESSAGES[413]), status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class ApiRateLimitMiddleware:
    """Request budgets for the API: a signed-in caller (a token verified before) spends only its own
    per-token budget; anonymous requests and tokens not yet verified spend their address's."""

    EXEMPT = ("/api/orchestrator/health", "/api/orchestrator/echo", "/api/orchestrator/ready")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api(request) and request.method != "OPTIONS" and request.path not in self.EXEMPT:
            wait = self._spend(request)
            if wait is not None:
                return render_error(request, TooManyRequests(retry_after=wait))
        return self.get_response(request)

    @staticmethod
    def _spend(request: HttpRequest) -> int | None:
        from dashboard.auth import bearer_token_or_none, caller_for_token
        from dashboard.clients import upstreams_for

        token = bearer_token_or_none(request)
        if token and ratelimit.token_is_known(token):
            return ratelimit.hit("api-token", token, limit=settings.API_RATE_LIMIT, window=60)
        address = ratelimit.client_ip(request)
        wait = ratelimit.hit("api-address", address, limit=settings.API_RATE_LIMIT_PER_ADDRESS, window=60)
        if wait is None or token is None:
            return wait
        # The address's budget is spent (an anonymous flood behind the same proxy?) and a token came
        # that was never verified here: verify it rather than refuse a signed-in caller. At most
        # API_RATE_LIMIT such checks per address per minute, so invented tokens buy nothing.
        if ratelimit.hit("api-verify", address, limit=settings.API_RATE_LIMIT, window=60) is not None:
            return wait
        try:
            caller_for_token(token, upstreams_for(token))
        except OrchestratorError:
            return wait
        return ratelimit.hit("api-token", token, limit=settings.API_RATE_LIMIT, window=60)


class SecurityHeadersMiddleware:
    """Content-Security-Policy (no inline scripts or styles) and Permissions-Policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        return response


class ErrorMiddleware:
    """Turns the error tree into responses, and keeps every /api/ error in the JSON shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and "json" not in response.get("Content-Type", ""):
            status = response.status_code
            replacement = error_json(status, _(_GENERIC_MESSAGES.get(status, "Error")),
                                     _GENERIC_CODES.get(status, "error"))
            for header in ("Allow", "Retry-After"):
                if header in response:
                    replacement[header] = response[header]
            if status == 405 and "Allow" in response:
                replacement.content = error_json(
                    405, _(_GENERIC_MESSAGES[405]), "metodo_no_permitido",
                    permitidos=[m.strip() for m in response["Allow"].split(",")],
                ).content
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OrchestratorError):
            if exception.status >= 500:
                logger.warning("%s: %s %s", exception.code, exception.message, exception.details.get("servicio", ""))
            return render_error(request, exception)
        if isinstance(exception, RequestDataTooBig):
            if is_api(request):
                return error_json(413, _(_GENERIC_MESSAGES[413]), "cuerpo_demasiado_grande")
            return HttpResponse(_(_GENERIC_MESSAGES[413]), status=413)
        if is_api(request):
            logger.exception("unhandled error in %s", request.path)
            return error_json(500, _(_GENERIC_MESSAGES[500]), "error_interno")
        return None
