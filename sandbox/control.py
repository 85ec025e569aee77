"""`Sandbox`: runs the three services, owns their data and faults, and serves `/__sandbox__/` control routes."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import seed
from .faults import Faults
from .prescriptions import PrescriptionsService, PrescriptionsStore
from .products import ProductsService, ProductsStore
from .server import (
    CONTROL_PREFIX,
    PREFLIGHT_HEADERS,
    InvalidJson,
    Listener,
    Reply,
    Request,
    Response,
    Route,
    Service,
    json_response,
)
from .users import Tokens, UsersService, UsersStore

SERVICES = ("usuarios", "productos", "recetas")
DEFAULT_PORTS = (8081, 8082, 8083)
WORKLOAD_TYPES = ("Analgesico", "Vitaminas", "Antiacido", "Antihistaminico")
# Run-time switches (POST /__sandbox__/modes, `Sandbox` attributes); `generation` is a preset of four.
MODES = ("generation", "doctors_filter_ignores_cmp", "validar_route_only", "validar_ocr", "validar_without_s3",
         "email_ignores_case", "upstream_timezone", "slow_writes_seconds")
REQUEST_LOG_LIMIT = 100_000  # per service, so a long-running demo or benchmark does not grow without bound
UNRECORDED_HEADERS = frozenset({"authorization", "cookie"})  # credentials never go into the request log

logger = logging.getLogger("sandbox")


class Sandbox:
    """The three upstream services in one process, with their contracts and quirks.

    `sb.users`, `sb.products` and `sb.prescriptions` are the in-memory stores (read and change data
    without HTTP). `sb.doctors_filter_ignores_cmp` and `sb.validar_route_only` switch the
    prescriptions service between deployment variants at run time. `reset()` reseeds the data and
    clears faults and request logs.
    """

    def __init__(self, host: str = "127.0.0.1", ports: tuple[int, int, int] | None = None,
                 jwt_secret: str | None = None, doctors_filter_ignores_cmp: bool = False,
                 validar_route_only: bool = False, *, access_log: bool = False):
        self.host = host
        self.users = UsersStore()
        self.products = ProductsStore()
        self.prescriptions = PrescriptionsStore()
        self.tokens = Tokens(jwt_secret)
        self._prescriptions_service = PrescriptionsService(
            self.prescriptions, doctors_filter_ignores_cmp=doctors_filter_ignores_cmp,
            validar_route_only=validar_route_only)
        self._services: dict[str, Service] = {
            "usuarios": UsersService(self.users, self.tokens),
            "productos": ProductsService(self.products),
            "recetas": self._prescriptions_service,
        }
        self._faults = {name: Faults() for name in SERVICES}
        self._log: dict[str, deque[tuple[str, str, str, dict[str, str]]]] = {
            name: deque(maxlen=REQUEST_LOG_LIMIT) for name in SERVICES}
        self._log_lock = threading.Lock()
        self._row_locks: dict[tuple[str, str], threading.Lock] = {}
        self._control = ControlService(self)
        self._started = False
        self._listeners = {
            name: Listener(host, port, functools.partial(self._respond, name), access_log)
            for name, port in zip(SERVICES, ports or (0, 0, 0), strict=True)
        }
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Listen on the configured ports (free ports when none were given)."""
        for listener in self._listeners.values():
            listener.start()
        self._started = True
        return self

    def stop(self) -> None:
        self._started = False
        for name in SERVICES:
            self._faults[name].release()
            self._listeners[name].stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def urls(self) -> dict[str, str]:
        return {name: listener.url for name, listener in self._listeners.items()}

    @property
    def jwt_secret(self) -> str:
        return self.tokens.secret

    @property
    def doctors_filter_ignores_cmp(self) -> bool:
        """When true, `/api/medicos/filter` ignores `cmp` (as some deployments do)."""
        return self._prescriptions_service.doctors_filter_ignores_cmp

    @doctors_filter_ignores_cmp.setter
    def doctors_filter_ignores_cmp(self, value: bool) -> None:
        self._prescriptions_service.doctors_filter_ignores_cmp = bool(value)

    @property
    def validar_route_only(self) -> bool:
        """When true, `PUT /api/recetas/estado/{id}` is an HTML 404; only `PUT /api/recetas/{id}/validar` works."""
        return self._prescriptions_service.validar_route_only

    @validar_route_only.setter
    def validar_route_only(self, value: bool) -> None:
        self._prescriptions_service.validar_route_only = bool(value)

    @property
    def slow_writes_seconds(self) -> float:
        """Seconds each prescription state write takes before it lands and answers (it lands even
        when the caller has given up)."""
        return self._prescriptions_service.slow_writes_seconds

    @slow_writes_seconds.setter
    def slow_writes_seconds(self, value: float) -> None:
        self._prescriptions_service.slow_writes_seconds = max(float(value), 0.0)

    @property
    def validar_ocr(self) -> bool:
        """When true, `validar` re-reads the PDF (`prescriptions.set_ocr`) and overwrites what it read."""
        return self._prescriptions_service.validar_ocr

    @validar_ocr.setter
    def validar_ocr(self, value: bool) -> None:
        self._prescriptions_service.validar_ocr = bool(value)

    @property
    def validar_without_s3(self) -> bool:
        """When true, `validar` fails as with no S3 bucket configured (500 `Missing required key 'Bucket'`)."""
        return self._prescriptions_service.validar_without_s3

    @validar_without_s3.setter
    def validar_without_s3(self, value: bool) -> None:
        self._prescriptions_service.validar_without_s3 = bool(value)

    @property
    def email_ignores_case(self) -> bool:
        """When true, login matches e-mails ignoring case (the real service matches them exactly)."""
        return self.users.email_ignores_case

    @email_ignores_case.setter
    def email_ignores_case(self, value: bool) -> None:
        self.users.email_ignores_case = bool(value)

    @property
    def upstream_timezone(self) -> str:
        """The zone users and products write their naive times in (default UTC, as deployed)."""
        return str(self.users.zone)

    @upstream_timezone.setter
    def upstream_timezone(self, value: str) -> None:
        """Changing it reseeds (the seed's times are written in it), like `reset()`."""
        zone = ZoneInfo(str(value))
        self.users.zone = self.products.zone = zone
        self.reset()

    @property
    def generation(self) -> str:
        """`nueva` (the newest prescriptions service) when every switch of it is on, else `anterior`."""
        service = self._prescriptions_service
        newest = (service.validar_route_only and service.validar_ocr and service.doctors_filter_ignores_cmp)
        return "nueva" if newest else "anterior"

    @generation.setter
    def generation(self, value: str) -> None:
        """`nueva`: no `estado/{id}`, OCR `validar`, doctors filter ignoring `cmp`; `anterior`: none of it."""
        if value not in ("nueva", "anterior"):
            raise ValueError("generation must be 'nueva' or 'anterior'")
        newest = value == "nueva"
        self.validar_route_only = self.validar_ocr = self.doctors_filter_ignores_cmp = newest
        if not newest:
            self.validar_without_s3 = False

    def default_modes(self) -> None:
        """Every mode back to its default (the older generation, exact e-mails, UTC times)."""
        self.generation = "anterior"
        self.email_ignores_case = False
        self.slow_writes_seconds = 0
        if self.upstream_timezone != "UTC":
            self.upstream_timezone = "UTC"

    # -- data ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Reseed every store, clear all faults (reviving downed services) and the request logs."""
        data = seed.build(zone=self.users.zone)
        self.users.load(data.users, data.purchases)
        self.products.load(data.products, data.offers)
        self.prescriptions.load(data.prescriptions, data.doctors)
        self.clear_faults()
        self.clear_requests()

    def token_for(self, dni: str, *, lifetime_seconds: int = 24 * 3600, role: str | None = None) -> str:
        """A JWT for a stored user, as login would issue it. A negative lifetime gives an expired
        token; `role` overrides the claim (the service ignores it and trusts its own data)."""
        user = self.users.get(dni)
        if user is None:
            raise KeyError(f"no user with DNI {dni}")
        return self.tokens.issue(dni, role or user["role"], lifetime_seconds)

    def seed_workload(self, dni: str, purchases: int, distinct_products: int) -> dict[str, Any]:
        """Add `purchases` purchases for the user spread over `distinct_products` products (created
        when the catalogue is smaller), dated over the last 180 days. Deterministic."""
        user_id = self.users.internal_id(dni)
        if user_id is None:
            raise KeyError(f"no user with DNI {dni}")
        if purchases < 0 or distinct_products < 1:
            raise ValueError("purchases must be >= 0 and distinct_products >= 1")
        ids = self.products.ids()
        for number in range(len(ids) + 1, distinct_products + 1):
            created = self.products.create(f"Producto de carga {number}", WORKLOAD_TYPES[number % len(WORKLOAD_TYPES)],
                                           round(5 + number % 40 * 1.5, 1), 1000, False)
            ids.append(created["id"])
        chosen = random.Random(seed.SEED + distinct_products).sample(ids, distinct_products)
        now, cursor = datetime.now(UTC), 0
        for index in range(purchases):
            count = min(1 + index % 3, distinct_products)
            items = [chosen[(cursor + offset) % distinct_products] for offset in range(count)]
            cursor += count
            when = now - timedelta(days=180 * (purchases - index) / max(purchases, 1))
            self.users.add_purchase(user_id, items, [1 + offset % 2 for offset in range(count)], when)
        return {"usuarioId": user_id, "compras": purchases, "productos": sorted(chosen)}

    # -- faults and request logs -----------------------------------------------------------------
    def faults(self, service: str, **keywords: Any) -> dict[str, Any]:
        """Add faults to one service; keywords not given keep their current value.

        latency_ms, jitter_ms: added delay per request; hang_seconds: wait before answering;
        fail={"method", "path" (fnmatch), "status", "count"}: the next `count` matching requests
        answer `status` with the service's generic error body; slow_lands={"method", "path",
        "seconds", "count"}: the next `count` matching requests are processed after `seconds` even if
        the caller gave up (writes to the same path queue behind them); down=True: connections refused
        (down=False listens again on the same port); html_instead_of_json / truncated_json:
        corrupt 200 JSON bodies; hostile_json="anidado"|"nan"|"infinito"|"nulos"|"tipos": a 200 JSON
        body 100k-deep, or with every number replaced (hostile_route={"method", "path"}: only there);
        oversized_bytes=N: 200 JSON bodies padded to N bytes; trickle_ms=T: the body goes out one byte
        every T ms (trickle_headers=True: the status line and headers too).
        """
        faults = self._fault_set(service)
        faults.update(**keywords)
        if "down" in keywords:
            listener = self._listeners[service]
            if keywords["down"]:
                faults.release()  # requests hanging inside a downed service die with it
                listener.stop()
            else:
                listener.start()
        return faults.snapshot()

    def clear_faults(self, service: str | None = None) -> None:
        for name in [service] if service else SERVICES:
            self._fault_set(name).clear()
            if self._started and not self._listeners[name].running:
                self._listeners[name].start()  # a service taken down comes back on its port

    def requests(self, service: str, *, with_query: bool = False) -> list[tuple[str, str]]:
        """The (method, path) of each request the service received, oldest first (control routes excluded;
        the last REQUEST_LOG_LIMIT only). `with_query=True` gives the path with its query string."""
        self._fault_set(service)
        with self._log_lock:
            return [(method, target if with_query else path) for method, path, target, _h in self._log[service]]

    def received_headers(self, service: str) -> list[dict[str, str]]:
        """The headers (lower-case names) of each request the service received, in the order of
        `requests()`; `Authorization` and `Cookie` are never recorded."""
        self._fault_set(service)
        with self._log_lock:
            return [dict(headers) for _m, _p, _t, headers in self._log[service]]

    def connections(self, service: str) -> int:
        """TCP connections the service has accepted (keep-alive reuse keeps this low)."""
        self._fault_set(service)
        return self._listeners[service].connections_accepted

    def clear_requests(self) -> None:
        with self._log_lock:
            for log in self._log.values():
                log.clear()

    def state(self) -> dict[str, Any]:
        with self._log_lock:
            request_counts = {name: len(log) for name, log in self._log.items()}
        return {
            "urls": self.urls,
            "activos": {name: listener.running for name, listener in self._listeners.items()},
            "faults": {name: faults.snapshot() for name, faults in self._faults.items()},
            "modos": {mode: getattr(self, mode) for mode in MODES},
            "conteos": {"usuarios": len(self.users.all()), "compras": len(self.users.purchases()),
                        "productos": len(self.products.ids()), "ofertas": len(self.products.offers()),
                        "recetas": len(self.prescriptions.all()), "medicos": len(self.prescriptions.doctors())},
            "peticiones": request_counts,
        }

    # -- request handling ------------------------------------------------------------------------
    def _fault_set(self, service: str) -> Faults:
        if service not in self._faults:
            raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
        return self._faults[service]

    def _respond(self, service_name: str, request: Request) -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            request.service = service_name
            return self._control.dispatch(request)
        with self._log_lock:
            headers = {k: v for k, v in request.headers.items() if k not in UNRECORDED_HEADERS}
            self._log[service_name].append((request.method, request.path, request.target, headers))
        faults = self._faults[service_name]
        faults.wait()
        if not self._listeners[service_name].running:
            return None  # the service went down while this request was waiting
        service = self._services[service_name]
        status = faults.take_failure(request.method, request.path)
        if status is not None:
            return service.failure(status)
        if request.method == "OPTIONS":
            return _preflight(request)
        slow = faults.take_slow(request.method, request.path)
        # Updates of one resource queue behind each other, as updates of one database row do; a slow
        # one is processed after its delay even if its caller has hung up. Reads never wait (MVCC).
        row_lock = self._row_lock(service_name, request.path) if request.method in ("PUT", "PATCH", "DELETE") \
            else contextlib.nullcontext()
        with row_lock:
            if slow:
                listener = self._listeners[service_name]
                generation = listener.generation
                time.sleep(slow)
                if not listener.running or listener.generation != generation:
                    return None  # the service died while holding it: never processed
            try:
                response = service.dispatch(request)
            except Exception:
                logger.exception("sandbox %s failed on %s %s", service_name, request.method, request.path)
                response = service.failure(500)
        return faults.corrupt(response, request.method, request.path)

    def _row_lock(self, service_name: str, path: str) -> threading.Lock:
        with self._log_lock:
            return self._row_locks.setdefault((service_name, path), threading.Lock())


def _preflight(request: Request) -> Response:
    allowed = request.header("access-control-request-headers") or "Authorization, Content-Type"
    return Response(204, headers={**PREFLIGHT_HEADERS, "Access-Control-Allow-Headers": allowed})


class ControlService(Service):
    """`/__sandbox__/...`: not part of any contract; lets tests and benchmarks drive the sandbox over HTTP.
    `"servicio"` in a body names the target service (default: the one receiving the request)."""

    name = "control"

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/__sandbox__/state", self.state),
            Route("POST", "/__sandbox__/faults", self.set_faults),
            Route("DELETE", "/__sandbox__/faults", self.clear_faults),
            Route("POST", "/__sandbox__/modes", self.set_modes),
            Route("POST", "/__sandbox__/reset", self.reset),
            Route("POST", "/__sandbox__/workload", self.workload),
        ]

    def not_found(self, request: Request) -> Response:
        return self.failure(404, f"ruta de control desconocida: {request.method} {request.path}")

    def method_not_allowed(self, request: Request) -> Response:
        return self.not_found(request)

    def invalid_json(self, request: Request, error: InvalidJson) -> Response:
        return self.failure(400, f"JSON inválido: {error}")

    def failure(self, status: int, message: str = "error") -> Response:
        return json_response(status, {"error": message})

    def dispatch(self, request: Request) -> Response:
        try:
            return super().dispatch(request)
        except (KeyError, ValueError, TypeError) as exc:
            return self.failure(400, str(exc))

    def _body(self, request: Request) -> dict[str, Any]:
        body = request.json() if request.body.strip() else {}
        if not isinstance(body, dict):
            raise Reply(self.failure(400, "se esperaba un objeto JSON"))
        return body

    def state(self, request: Request) -> Response:
        return json_response(200, self.sandbox.state())

    def set_faults(self, request: Request) -> Response:
        body = self._body(request)
        service = body.pop("servicio", request.service)
        return json_response(200, {"servicio": service, "faults": self.sandbox.faults(service, **body)})

    def clear_faults(self, request: Request) -> Response:
        self.sandbox.clear_faults(request.query.get("servicio") or None)
        return json_response(200, {"faults": self.sandbox.state()["faults"]})

    def set_modes(self, request: Request) -> Response:
        body = self._body(request)
        unknown = set(body) - set(MODES)
        if unknown:
            raise ValueError(f"modos desconocidos: {', '.join(sorted(unknown))}; válidos: {', '.join(MODES)}")
        # The preset first, so that single switches sent with it refine it.
        for mode in sorted(body, key=lambda name: name != "generation"):
            setattr(self.sandbox, mode, body[mode])
        return json_response(200, self.sandbox.state()["modos"])

    def reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return json_response(200, {"mensaje": "datos restablecidos"})

    def workload(self, request: Request) -> Response:
        body = self._body(request)
        summary = self.sandbox.seed_workload(str(body["dni"]), int(body.get("compras", 100)),
                                             int(body.get("productos_distintos", 30)))
        return json_response(200, summary)
