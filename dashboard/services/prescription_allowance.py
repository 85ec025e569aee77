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

Pure functions of what the services answered: no upstream call here.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.utils import timezone

from dashboard.services.prescriptions import emission_day, validity_check
from dashboard.types import Prescription, Purchase

LIMA = ZoneInfo("America/Lima")
# DNI -> the users service's internal `usuarioId` (it never changes; no endpoint maps one to the other).
BUYER_ID_CACHE_SECONDS = 30 * 24 * 3600


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
    for day, _, units in bought:
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


def remember_buyer_id(dni: str, purchases: Sequence[Purchase]) -> None:
    """Note the DNI's internal `usuarioId` from the buyer's own purchases (`/api/compras/me`)."""
    ids = {p.usuario_id for p in purchases if p.usuario_id is not None}
    if len(ids) == 1:
        cache.set(f"usuario_id_por_dni:{dni}", ids.pop(), BUYER_ID_CACHE_SECONDS)


def known_buyer_id(dni: str) -> int | None:
    return cache.get(f"usuario_id_por_dni:{dni}")
