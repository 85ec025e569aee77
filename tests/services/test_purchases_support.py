"""Fakes shared by the purchases tests (no tests here): a stateful products service on `responses`,
the other upstream endpoints a purchase touches, and an overlap meter for concurrent calls."""
from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
import responses
import urllib3
from responses import matchers

from dashboard.clients import upstreams_for
from dashboard.types import User
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import page, product_payload, purchase_payload, user_payload

TOKEN = "cabecera.cuerpo.firma"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
ANA = "72345678"
LANDS_THEN_TIMES_OUT = "escrito_pero_sin_respuesta"
REFUSED = "conexion_rechazada"  # never reached the service
PRODUCT_URL = re.compile(rf"^{re.escape(PRODUCTS)}/api/productos/(\d+)$")


def product_url(pid: int) -> str:
    return f"{PRODUCTS}/api/productos/{pid}"


def buyer(role: str = "CLIENTE", dni: str = ANA) -> User:
    return User.from_wire(user_payload(dni, role))


def upstreams():
    return upstreams_for(TOKEN)


def calls(mocked: responses.RequestsMock, method: str, url: str) -> int:
    """How many calls were made to exactly this URL (query string ignored)."""
    return sum(1 for c in mocked.calls if c.request.method == method and c.request.url.split("?")[0] == url)


def sent(mocked: responses.RequestsMock, method: str, url: str) -> list[Any]:
    return [json.loads(c.request.body) for c in mocked.calls
            if c.request.method == method and c.request.url.split("?")[0] == url]


class Overlap:
    """Wraps `responses` callbacks: the first `parties` calls wait for each other at a barrier, so they
    only all return if they were in flight at the same time; `max_in_flight` is what was seen."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.barrier = threading.Barrier(parties, timeout=5)
        self._lock = threading.Lock()
        self.arrivals = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def wrap(self, callback: Callable) -> Callable:
        def run(request):
            with self._lock:
                self.arrivals += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                waits = self.arrivals <= self.parties
            try:
                if waits:
                    self.barrier.wait()  # BrokenBarrierError (the call fails) if the others never come
                return callback(request)
            finally:
                with self._lock:
                    self.in_flight -= 1
        return run


class FakeProducts:
    """GET/PUT /api/productos/{id} over a dict, with scripted failures per product."""

    def __init__(self, mocked: responses.RequestsMock, *products: dict, overlap: Overlap | None = None) -> None:
        self.products = {p["id"]: dict(p) for p in products}
        # product id -> outcome of its next PUTs: 200 (works), another status (not written), LANDS_THEN_TIMES_OUT
        self.put_failures: dict[int, list[int | str]] = {}
        self.get_failures: dict[int, list[int]] = {}
        self.gets: Counter = Counter()
        self.after_get: Callable[[int, int], None] | None = None  # (product id, nth read) -> side effect
        wrap = overlap.wrap if overlap else (lambda cb: cb)
        mocked.add_callback("GET", PRODUCT_URL, callback=wrap(self._get))
        mocked.add_callback("PUT", PRODUCT_URL, callback=self._put)

    def stock(self, pid: int) -> int:
        return self.products[pid]["stock"]

    def _id(self, request) -> int:
        return int(PRODUCT_URL.match(request.url).group(1))

    def _get(self, request):
        pid = self._id(request)
        self.gets[pid] += 1
        if self.get_failures.get(pid):
            return self.get_failures[pid].pop(0), {}, json.dumps({"detail": "falla"})
        if pid not in self.products:
            return 404, {}, json.dumps({"detail": "Producto no encontrado"})
        body = json.dumps(self.products[pid])
        if self.after_get:
            self.after_get(pid, self.gets[pid])
        return 200, {}, body

    def _put(self, request):
        pid = self._id(request)
        outcome = self.put_failures[pid].pop(0) if self.put_failures.get(pid) else 200
        if outcome == REFUSED:
            raise requests.exceptions.ConnectionError(urllib3.exceptions.NewConnectionError(None, "refused"))
        if outcome == LANDS_THEN_TIMES_OUT:
            self.products[pid]["stock"] = json.loads(request.body)["stock"]
            raise requests.exceptions.ReadTimeout("written, but the answer never came")
        if outcome != 200:
            return outcome, {}, "Internal Server Error"
        self.products[pid]["stock"] = json.loads(request.body)["stock"]
        return 200, {}, json.dumps(self.products[pid])


def mock_me(mocked, role: str = "CLIENTE", dni: str = ANA) -> None:
    mocked.get(f"{USERS}/api/user/me", json=user_payload(dni, role))


def mock_offers(mocked, offers: list[dict] | None = None) -> None:
    mocked.get(f"{PRODUCTS}/api/ofertas/all", json=offers or [])


def mock_prescriptions(mocked, items: list[dict] | None = None, *, page_number: int = 1, total: int | None = None,
                       dni: str = ANA, **kwargs: Any) -> None:
    query = {"dni": dni, "estado": "validada", "page": str(page_number), "pagesize": "100"}
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/filter", json=page(items or [], total=total, page=page_number),
               match=[matchers.query_param_matcher(query)], **kwargs)


def mock_create(mocked, *, status: int = 200, purchase_id: int = 15) -> None:
    def create(request):
        body = json.loads(request.body)
        if status != 200:
            return status, {}, json.dumps({"status": status, "error": "Error interno del servidor",
                                           "message": "Ha ocurrido un error inesperado"})
        return 200, {}, json.dumps(purchase_payload(purchase_id, productos=body["productos"],
                                                    cantidades=body["cantidades"]))
    mocked.add_callback("POST", f"{USERS}/api/compras", callback=create)


def purchase_world(mocked, *products: dict, offers: list[dict] | None = None,
                   prescriptions: list[dict] | None = None, overlap: Overlap | None = None, create: bool = True,
                   fake_class: type[FakeProducts] | None = None) -> FakeProducts:
    """Everything a purchase of `products` needs, all answering well (`create=False`: no POST and no
    GET /api/compras/me mocked: the test registers its own)."""
    mock_me(mocked)
    fake = (fake_class or FakeProducts)(mocked, *(products or (product_payload(1),)), overlap=overlap)
    mock_offers(mocked, offers)
    mock_prescriptions(mocked, prescriptions)
    if create:
        mock_my_purchases(mocked)
        mock_create(mocked)
    return fake


def mock_my_purchases(mocked, purchases: list[dict] | None = None) -> None:
    """The buyer's earlier purchases (GET /api/compras/me): what used their prescriptions up."""
    mocked.upsert("GET", f"{USERS}/api/compras/me", json=purchases or [])
