"""The base of every upstream client: the ONLY module family that imports `requests`.

It owns, once for all services: the pooled session per upstream per process, the base URL and
timeouts from settings, the forwarded `Authorization`, `X-Request-ID` and `traceparent` (a child span
per call), a slot of the upstream's fair in-flight limit (`dashboard.concurrency.upstream_slot`), one
DEBUG log line (the request's INFO line sums its calls) and the upstream metrics per call,
id validation before a URL is built, and the mapping of every failure to the error tree:
refused -> 503, timeout -> 504, 5xx or a body that breaks the contract -> 502, 4xx -> the
upstream's status and message (any of its three error dialects, or HTML).
"""
from __future__ import annotations

import functools
import html
import json as jsonlib
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import requests
import urllib3
from django.conf import settings
from requests.structures import CaseInsensitiveDict

from dashboard import context, metrics, tracing
from dashboard.clients.breakers import breaker_for
from dashboard.clients.deadline import DeadlineAdapter, deadline, recv_wait
from dashboard.clients.transport import UpstreamAdapter, ca_bundle
from dashboard.concurrency import SlotTimeout, upstream_slot
from dashboard.errors import (
    BadRequest,
    OrchestratorError,
    UpstreamError,
    UpstreamFailed,
    UpstreamInvalid,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("dashboard.upstream")

T = TypeVar("T")

# The largest product id a URL may carry (18 digits); purchases and listings share this bound.
PRODUCT_ID_MAX = 10**18 - 1
_PRODUCT_ID = re.compile(r"^[1-9][0-9]{0,17}$")
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
# How much of an upstream's 5xx text is passed on in `details.detalle`.
DETALLE_MAX_CHARS = 300

_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def product_id(value: Any) -> int:
    """A products-service id: an integer > 0 (a digits-only string is accepted), else 400."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= PRODUCT_ID_MAX:
        return value
    if isinstance(value, str) and _PRODUCT_ID.fullmatch(value):
        return int(value)
    raise BadRequest("El ID de producto debe ser un entero positivo", code="id_invalido")


def prescription_id(value: Any) -> str:
    """A prescriptions-service id: a 24-hex ObjectId, else 400."""
    if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
        return value
    raise BadRequest("El ID de receta debe ser un ObjectId de 24 caracteres hexadecimales", code="id_invalido")


@functools.cache
def upstream_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf: not a number anyone can use
        raise ValueError("non-finite number")
    return value


def loads(content: bytes) -> Any:
    """Strict JSON from an upstream: ValueError for anything else (NaN, Infinity, 1e400, nesting too
    deep for the parser, integers of thousands of digits, bad encodings)."""
    try:
        return jsonlib.loads(content, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError as exc:
        raise ValueError("nesting too deep") from exc


def session_for(service: str) -> requests.Session:
    """One pooled keep-alive session per upstream per process."""
    with _sessions_lock:
        session = _sessions.get(service)
        if session is None:
            session = requests.Session()
            # Reading proxies and ~/.netrc from the environment costs CPU on every call; the upstreams
            # are internal services, so only UPSTREAM_TRUST_ENV=True turns that back on.
            session.trust_env = settings.UPSTREAM_TRUST_ENV
            session.verify = ca_bundle()  # what Session.send passes on (the UpstreamAdapter reads it itself)
            pool = max(settings.UPSTREAM_MAX_CONCURRENCY, 10)  # the in-flight limit per upstream
            # No automatic retries here: writes must never be repeated behind the caller's back.
            # Proxies from the environment need requests' own stack (urllib3 under deadlines);
            # otherwise the lighter wire of `clients.transport`.
            adapter_class = DeadlineAdapter if session.trust_env else UpstreamAdapter
            adapter = adapter_class(pool_connections=1, pool_maxsize=pool, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[service] = session
        return session


def send(service: str, method: str, url: str, *, params: dict[str, Any] | None, json: Any,
         headers: dict[str, str], timeout: tuple[float, float],
         read: Callable[[requests.Response], bytes] | None = None) -> tuple[requests.Response, bytes | None]:
    """The lightest path through `requests`: a request prepared here, sent by the session's adapter.

    `Session.request` merges session settings, cookies, hooks and environment on every call, and
    `Session.send` extracts cookies and looks for redirects; the URL here is already built from
    validated parts and none of that applies, so the prepared request goes straight to the adapter
    (`clients.transport`). `Session.send` is kept where it does something: with OpenTelemetry on (it
    is what the requests instrumentation wraps) and with `UPSTREAM_TRUST_ENV` (it applies the
    environment's proxies). Redirects are never followed. The body is streamed and `read` (inside
    the upstream's slot) reads it: the answer and its body, or None without `read`.
    """
    prepared = requests.PreparedRequest()
    prepared.method = method
    prepared.url = url + ("?" + urlencode(params, doseq=True) if params else "")
    prepared.headers = CaseInsensitiveDict(headers)
    prepared.body = None
    if json is not None:
        prepared.body = jsonlib.dumps(json, allow_nan=False).encode()
        prepared.headers["Content-Type"] = "application/json"
    if prepared.body is not None or method in ("POST", "PUT", "PATCH"):
        prepared.headers["Content-Length"] = str(len(prepared.body or b""))
    prepared.hooks = {"response": []}
    prepared._cookies = None  # noqa: SLF001 - what prepare_cookies leaves when there are none
    session = session_for(service)
    with upstream_slot(service):
        if session.trust_env or tracing.enabled():
            response = session.send(prepared, timeout=timeout, allow_redirects=False, stream=True)
        else:
            response = session.get_adapter(prepared.url).send(prepared, stream=True, timeout=timeout)
        if read is None:
            return response, None
        try:
            return response, read(response)
        except BaseException:
            response.close()  # a half-read answer must not go back to the pool
            raise


def reset_sessions() -> None:
    """Drop pooled sessions (tests that restart upstreams on new ports use it)."""
    with _sessions_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()


def upstream_message(body: Any, text: str) -> str:
    """The upstream's own words, whatever its error dialect."""
    if isinstance(body, dict):
        error, message, detail = body.get("error"), body.get("message"), body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):  # FastAPI 422
            msgs = [d.get("msg", "") for d in detail if isinstance(d, dict)]
            return "; ".join(m for m in msgs if m) or "Solicitud inválida"
        validation = body.get("validationErrors")
        if isinstance(validation, dict) and validation:
            return f"{error or 'Errores de validación'}: " + "; ".join(f"{k}: {v}" for k, v in validation.items())
        detalle = body.get("detalle")
        parts = [p for p in (error, message, detalle) if isinstance(p, str) and p]
        # Spring puts a category in `error` and the reason in `message`: keep both, once.
        if parts:
            return ": ".join(dict.fromkeys(parts))
    title = re.search(r"<title>(.*?)</title>", text or "", re.I | re.S)
    plain = title.group(1) if title else re.sub(r"<[^>]+>", " ", text or "")
    plain = " ".join(html.unescape(plain).split())
    return plain[:200] or "Error sin detalle"


def _sent_before_failing(exc: requests.ConnectionError) -> bool:
    """False only when the connection was never made (refused, unresolvable, connect timeout)."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    return not isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


class BaseClient:
    """Per-request client of one upstream. Subclasses set `service` and `url_setting`."""

    service: str = ""
    url_setting: str = ""
    timezone_setting: str = ""  # the setting naming the zone of its naive times, when it prints any


    def __init__(self, *, token: str | None = None) -> None:
        self.token = token

    @property
    def zone(self) -> ZoneInfo:
        """The zone the service's naive times are in: converted once, here, when they are parsed."""
        return upstream_zone(getattr(settings, self.timezone_setting, "UTC"))

    @property
    def base_url(self) -> str:
        return getattr(settings, self.url_setting).rstrip("/")

    def _headers(self, auth: bool) -> dict[str, str]:
        ctx = context.current()
        # identity: a compressed answer could inflate far past UPSTREAM_MAX_BYTES before it is counted.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "X-Request-ID": ctx.request_id,
                   "traceparent": ctx.child_traceparent()}
        if ctx.tracestate:
            headers["tracestate"] = ctx.tracestate
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def call(
        self,
        method: str,
        path_template: str,
        *,
        path: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        auth: bool = False,
        parse: Callable[[Any], T] | None = None,
        timeout: tuple[float, float] | None = None,
        expect_json: bool = True,
    ) -> Any:
        """Make one upstream call and return its parsed JSON (through `parse` when given).

        `path` values must already be validated (see `product_id`, `prescription_id`); they are
        still percent-encoded so nothing can change the path's shape. A GET is tried once more on
        a refused connection or a 502/503/504; a write never is.
        """
        url = self.base_url + path_template.format(**{k: quote(str(v), safe="") for k, v in (path or {}).items()})
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        breaker = breaker_for(self.service)
        try:
            breaker.before_call()
        except UpstreamUnavailable:
            metrics.observe_upstream(self.service, path_template, method, "circuit_open", None)
            raise
        attempts = 1 + (settings.UPSTREAM_GET_RETRIES if method == "GET" else 0)
        try:
            result = self._attempts(attempts, method, path_template, url, params=params, json=json, auth=auth,
                                    parse=parse, timeout=timeout, expect_json=expect_json)
        except UpstreamRejected:
            breaker.record_success()  # a 4xx is the upstream working as designed
            raise
        except BaseException as exc:
            # Whatever else happens (even a bug of ours) resolves the call: a trial call that
            # ended in an unexpected exception must not leave the breaker waiting on it forever.
            breaker.record_failure(exc)
            raise
        breaker.record_success()
        return result

    def _attempts(self, attempts: int, method: str, path_template: str, url: str, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return self._once(method, path_template, url, **kwargs)
            except (UpstreamUnavailable, UpstreamFailed) as exc:
                retriable = (isinstance(exc, UpstreamUnavailable)
                             or exc.details.get("upstream_status") in (502, 503, 504))
                remaining = context.current().remaining()
                pause = random.uniform(0.05, 0.15)  # noqa: S311 - jitter, not security
                if attempt == attempts or not retriable or (remaining is not None and remaining < pause + 0.5):
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _timeout(self, timeout: tuple[float, float] | None) -> tuple[float, float, float]:
        """(connect, read, total): `total` bounds the whole answer, headers and body, not one read."""
        connect, read = timeout or (settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT)
        total = connect + read
        remaining = context.current().remaining()
        if remaining is None:
            return connect, read, total
        if remaining <= 0:
            raise UpstreamTimeout(self.service, details={"motivo": "plazo_de_la_solicitud_agotado"})
        return min(connect, remaining), min(read, remaining), min(total, remaining)

    def _once(self, method: str, path_template: str, url: str, *, params: dict[str, Any] | None, json: Any,
              auth: bool, parse: Callable[[Any], T] | None, timeout: tuple[float, float] | None,
              expect_json: bool) -> Any:
        connect, read, total = self._timeout(timeout)
        headers = self._headers(auth)
        traceparent = headers["traceparent"]
        started = ended = time.perf_counter()
        status: int | str = "error"
        outcome = "error"
        try:
            try:
                try:
                    # The whole answer, status line and headers included, by started + total.
                    with deadline(started + total, read):
                        response, content = send(
                            self.service, method, url, params=params, json=json, headers=headers,
                            timeout=(connect, read), read=lambda r: self._read_body(r, started + total, read))
                except (UpstreamTimeout, UpstreamInvalid) as exc:
                    status = outcome = "timeout" if isinstance(exc, UpstreamTimeout) else "invalid_response"
                    raise
                status = response.status_code
                outcome = metrics.upstream_outcome(status)
                # With OpenTelemetry on, its requests instrumentation sent its own client span instead.
                traceparent = response.request.headers.get("traceparent", traceparent)
            except (requests.Timeout, SlotTimeout) as exc:
                status = outcome = "timeout"
                error: UpstreamError = UpstreamTimeout(self.service)
                error.may_have_landed = not isinstance(exc, (requests.ConnectTimeout, SlotTimeout))
                raise error from exc
            except requests.ConnectionError as exc:
                status = outcome = "unreachable"
                error = UpstreamUnavailable(self.service)
                error.may_have_landed = _sent_before_failing(exc)
                raise error from exc
            except requests.RequestException as exc:
                raise UpstreamFailed(self.service) from exc
            finally:
                ended = time.perf_counter()
                elapsed_ms = (ended - started) * 1000
                context.current().record_upstream(started, ended)
                level = logging.DEBUG if outcome == "success" else logging.INFO
                if logger.isEnabledFor(level):
                    logger.log(
                        level, "upstream %s %s %s -> %s in %.1f ms",
                        self.service, method, path_template, status, elapsed_ms,
                        extra={"servicio": self.service, "metodo": method, "ruta": path_template,
                               "estado": status, "ms": round(elapsed_ms, 1),
                               "span_id": traceparent.split("-")[2]},
                    )
            try:
                return self._interpret(response.status_code, content or b"", parse, expect_json)
            except UpstreamFailed as exc:
                if outcome == "success":
                    outcome = "invalid_response"  # answered 2xx, but not what the contract says
                if isinstance(exc, UpstreamInvalid) and method != "GET" and 200 <= response.status_code < 300:
                    # The upstream said the write was done; only its answer is unusable.
                    exc.details["escritura_aplicada"] = True
                raise
        finally:
            metrics.observe_upstream(self.service, path_template, method, outcome, ended - started)

    def _read_body(self, response: requests.Response, until: float, read_timeout: float) -> bytes:
        """The whole body by `until` (perf_counter) and within UPSTREAM_MAX_BYTES, else 504 / 502.

        One recv at a time, each allowed only what is left of the deadline (`clients.deadline` does it
        for every read; the socket timeout set here covers connections made outside it, e.g. through a
        proxy): an upstream that trickles its answer cannot stretch the call past it.
        """
        limit = settings.UPSTREAM_MAX_BYTES
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_big()
        raw = response.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                wait = recv_wait(until, read_timeout)  # TimeoutError once the deadline has passed
                if sock is not None:
                    sock.settimeout(wait)
                chunk = raw.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise self._too_big()
                chunks.append(chunk)
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError) as exc:
            raise UpstreamTimeout(self.service, details={"motivo": "respuesta_incompleta_a_tiempo"}) from exc
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            # Cut mid-body, bad chunking, a body that does not decompress: not the answer promised.
            raise UpstreamInvalid(self.service, details={"motivo": "respuesta_incompleta"}) from exc
        return b"".join(chunks)

    def _too_big(self) -> UpstreamInvalid:
        return UpstreamInvalid(self.service, details={"motivo": "respuesta_demasiado_grande",
                                                      "limite_bytes": settings.UPSTREAM_MAX_BYTES})

    def _interpret(self, status: int, content: bytes, parse: Callable[[Any], T] | None, expect_json: bool) -> Any:
        body: Any = None
        is_json = False
        if content:
            try:
                body = loads(content)
                is_json = True
            except ValueError:
                body = None
        text = content.decode("utf-8", errors="replace") if status >= 400 else ""
        if status >= 500:
            # The upstream's own words, trimmed (an SDK message, a stack trace's first line), when it sent any.
            detalle = upstream_message(body, text)[:DETALLE_MAX_CHARS] if content else None
            raise UpstreamFailed(self.service, details={"upstream_status": status,
                                                        **({"detalle": detalle} if detalle else {})})
        if status >= 400:
            error = UpstreamRejected(self.service, status, upstream_message(body, text), body if is_json else None)
            error.body_is_json = is_json
            raise error
        if 300 <= status < 400:
            # Redirects are not followed (an upstream's API has no business sending one; following it
            # would send the bearer token wherever it points): not the answer the contract promises.
            raise UpstreamInvalid(self.service, details={"motivo": "redireccion_no_seguida", "upstream_status": status})
        if status == 204 or not expect_json:
            return body
        if not is_json:
            raise UpstreamInvalid(self.service, details={"motivo": "respuesta_no_json"})
        if parse is None:
            return body
        try:
            return parse(body)
        except OrchestratorError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a hostile body breaks, it is a bad gateway
            logger.warning("upstream %s broke its contract: %s", self.service, type(exc).__name__)
            raise UpstreamInvalid(self.service, details={"motivo": "respuesta_fuera_de_contrato"}) from exc

    def echo(self) -> Any:
        """GET /echo (liveness, no auth)."""
        return self.call("GET", "/echo", timeout=(settings.READY_TIMEOUT, settings.READY_TIMEOUT), expect_json=False)
