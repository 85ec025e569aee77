"""What a buyer's prescriptions still authorise: a prescription is used up by what was bought with it.

The rule (README, "Recetas que se agotan"):
1. The pool: the buyer's `validada` prescriptions (their DNI) that are valid today (issued on day D
   in Lima, valid through D + RECETA_VALIDEZ_DIAS, the same window the approval checks).
2. For one product, each prescription in the pool authorises the `cantidad` of its lines for that
   product id.
3. The buyer's purchases of that product, oldest first, use the pool up: each unit is charged to the
   prescription issued on or before the purchase's day (in Lima) that expires first (then the
   oldest, then the lowest id). Units no such prescription can absorb (bought before any of them
   was issued, or beyond them) are charged to none: they were bought under older prescriptions.
4. What the pool still authorises is the sum of what is left; a purchase line needing more is
   refused (400 `receta_requerida`, with the units left in `details`).

The rule itself is pure functions of what the services answered; `prescription_dispensing` reads
what it needs for the review page's "dispensado X de Y".
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from dashboard.clients import Upstreams
from dashboard.concurrency import gather, map_concurrently
from dashboard.errors import UpstreamError
from dashboard.services.buyers import known_buyer_id, remember_buyer_id
from dashboard.services.prescriptions import emission_day, validity_check
from dashboard.types import Prescription, Purchase, User

LIMA = ZoneInfo("America/Lima")
PAGE_SIZE = 100
MAX_PAGES = 20


class BuyerPrescriptions(list):
    """The buyer's validated prescriptions (a list), with the buyer's purchases read alongside them."""

    def __init__(self, prescriptions: Iterable[Prescription], purchases: Sequence[Purchase]) -> None:
        super().__init__(prescriptions)
        self.purchases = list(purchases)


@dataclass(frozen=True)
class Shortfall:
    producto_id: int
    solicitado: int
    disponible: int  # units the pool still authorises (0 when there is no valid prescription for it)


def purchase_day(purchase: Purchase) -> dt.date:
    """The purchase's calendar day in Lima (the clients made the upstream's time aware)."""
    moment = purchase.fecha if purchase.fecha.tzinfo else purchase.fecha.replace(tzinfo=dt.UTC)
    return moment.astimezone(LIMA).date()


def valid_pool(prescriptions: Iterable[Prescription], dni: str, *,
               now: dt.datetime | None = None) -> list[Prescription]:
    """Rule 1: validated, the buyer's, valid today (whatever the filter promised)."""
    now = now or timezone.now()
    return [p for p in prescriptions
            if p.estado == "validada" and p.paciente_dni == dni and validity_check(p.fecha_emision, now=now).ok]


def _authorised(prescription: Prescription, product_id: int) -> int:
    return sum(max(line.cantidad, 0) for line in prescription.productos if line.producto_id == product_id)


def dispensed(pool: Sequence[Prescription], purchases: Iterable[Purchase], product_id: int) -> dict[str, int]:
    """Rule 3: units of `product_id` charged to each prescription of the pool, by prescription id."""
    capacity = {p.id: _authorised(p, product_id) for p in pool if _authorised(p, product_id) > 0}
    order = sorted((p for p in pool if p.id in capacity),
                   key=lambda p: (emission_day(p.fecha_emision), p.id))  # same validity: first issued, first expires
    used = dict.fromkeys(capacity, 0)
    bought = sorted(
        (purchase_day(purchase), purchase.id,
         sum(qty for pid, qty in zip(purchase.productos, purchase.cantidades, strict=True) if pid == product_id))
        for purchase in purchases if product_id in purchase.productos)
    for day, _purchase_id, units in bought:
        for prescription in order:
            if units <= 0:
                break
            if emission_day(prescription.fecha_emision) > day:
                continue
            take = min(units, capacity[prescription.id] - used[prescription.id])
            used[prescription.id] += take
            units -= take
    return used


def remaining(pool: Sequence[Prescription], purchases: Iterable[Purchase], product_id: int) -> int:
    """Rule 4: units of `product_id` the pool still authorises."""
    used = dispensed(pool, purchases, product_id)
    return sum(_authorised(p, product_id) - used[p.id] for p in pool if p.id in used)


def uncovered_items(*, needed: Iterable[tuple[int, int]], prescriptions: Iterable[Prescription],
                    purchases: Sequence[Purchase], dni: str, now: dt.datetime | None = None) -> list[Shortfall]:
    """The (producto_id, cantidad) lines the buyer's prescriptions do not cover, with the units left."""
    pool = valid_pool(prescriptions, dni, now=now)
    short = []
    for product_id, cantidad in needed:
        left = remaining(pool, purchases, product_id)
        if cantidad > left:
            short.append(Shortfall(product_id, cantidad, left))
    return short


@dataclass(frozen=True)
class Dispensing:
    """Per product id of a validated prescription: (units dispensed against it, units it authorises).
    `por_producto` is None when it cannot be known, and `motivo` says why."""

    por_producto: dict[int, tuple[int, int]] | None
    motivo: str = ""


def _validated_prescriptions(upstreams: Upstreams, dni: str) -> list[Prescription]:
    first = upstreams.prescriptions.prescriptions_filter(dni=dni, estado="validada", page=1, pagesize=PAGE_SIZE)
    pages = min(-(-first.total // max(first.pagesize, 1)), MAX_PAGES)
    rest = map_concurrently(lambda n: upstreams.prescriptions.prescriptions_filter(
        dni=dni, estado="validada", page=n, pagesize=PAGE_SIZE), range(2, pages + 1))
    return [p for page in (first, *rest) for p in page.items]


def _patient_purchases(upstreams: Upstreams, caller: User, dni: str) -> list[Purchase] | None:
    if caller.dni == dni:
        mine = upstreams.users.purchases_mine()
        remember_buyer_id(dni, mine)
        return mine
    buyer_id = known_buyer_id(dni) if caller.is_admin else None
    if buyer_id is None:
        return None
    return [p for p in upstreams.users.purchases_all() if p.usuario_id == buyer_id]


def prescription_dispensing(*, upstreams: Upstreams, caller: User, receta: Prescription) -> Dispensing | None:
    """What a validated prescription has dispensed so far, product by product (None if not validated).

    The users service identifies buyers by an internal number no other endpoint maps to a DNI; the
    orchestrator learns it when the patient buys or lists their purchases through it. Until then an
    ADMIN sees "unknown", never "0".
    """
    if receta.estado != "validada":
        return None
    try:
        prescriptions, purchases = gather([lambda: _validated_prescriptions(upstreams, receta.paciente_dni),
                                           lambda: _patient_purchases(upstreams, caller, receta.paciente_dni)])
    except UpstreamError as exc:
        return Dispensing(None, _("No se pudo calcular lo dispensado: %(motivo)s") % {"motivo": exc.message})
    if purchases is None:
        return Dispensing(None, _("Lo dispensado se conocerá cuando el paciente compre o consulte sus compras "
                                  "a través del orquestador (el servicio de usuarios no relaciona DNI y compras)."))
    pool = valid_pool(prescriptions, receta.paciente_dni)
    if all(p.id != receta.id for p in pool):
        pool.append(receta)  # expired (or not listed yet): what it was used for, in the same order
    result = {}
    for product_id in dict.fromkeys(line.producto_id for line in receta.productos if line.producto_id is not None):
        used = dispensed(pool, purchases, product_id)
        result[product_id] = (used.get(receta.id, 0), _authorised(receta, product_id))
    return Dispensing(result)
