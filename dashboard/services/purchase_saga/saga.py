"""The steps of a purchase that write upstream: take the stock, register, and resolve what is unknown.

Invariant: for every attempt, the units registered upstream equal the units taken from stock.
- Before the first stock write the attempt is journaled (`journal.begin`); each step after it (the
  confirmed stock writes together with the registration's "sent", in one fsync, before it is sent).
- A stock write whose outcome is unknown (timeout, connection lost) keeps its product locked until
  the outcome is known: the restore writes the absolute value read under the lock, which the
  products service applies after the late write (writes to one row queue), so no unit is lost.
- A registration whose outcome is unknown is never given back blindly: the buyer's purchases are
  searched for it for `PURCHASE_GRACE_SECONDS`; found, it is the purchase; still unknown, the stock
  stays taken and the caller gets 504 `resultado_incierto` with the key to repeat with. After
  `PURCHASE_SETTLE_SECONDS` without it appearing, it is taken as never made and the stock is given back.
- Anything that fails once stock is taken gives every unit back (same locks); what cannot be given
  back stays open in the journal for `manage.py reconcile`.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from dashboard import context, metrics
from dashboard.clients import Upstreams
from dashboard.concurrency import map_concurrently
from dashboard.errors import (
    SERVICE_USERS,
    CacheUnavailable,
    JournalUnavailable,
    LockUnavailable,
    OrchestratorError,
    UncertainOutcome,
    UpstreamError,
    UpstreamFailed,
)
from dashboard.services.buyers import known_buyer_id, remember_buyer_number
from dashboard.services.purchase_saga.journal import (
    GIVEN_BACK,
    REGISTERED,
    UNCHANGED,
    Attempt,
    StockStep,
    journal,
    registration_event,
    stock_event,
)
from dashboard.services.purchase_saga.locks import ProductLocks
from dashboard.sharedcache import cache_call
from dashboard.types import Product, Purchase, User

logger = logging.getLogger("dashboard.purchases")

# Clocks differ (ours, the users service's): a registered purchase may carry a time a little
# before the attempt's start by our clock.
CLOCK_SKEW = dt.timedelta(minutes=2)
CLAIM_SECONDS = 30 * 24 * 60 * 60
# Writes of the stock read under the lock, to settle a write whose outcome is unknown.
RESTORE_ATTEMPTS = 4


class PurchaseNotRegistered(OrchestratorError):
    code = "compra_no_registrada"
    status = 502


@dataclass(frozen=True)
class Registered:
    purchase: Purchase
    draft: dict[str, Any] | None
    attempt: Attempt


def take_stock_and_register(*, upstreams: Upstreams, buyer: User, items: Iterable[tuple[int, int]], ticket: Any,
                            validate: Callable[[], dict[int, Product]],
                            draft: Callable[[dict[int, Product]], dict[str, Any]]) -> Registered:
    """Under per-product locks: `validate` (reads the products, whose stock the writes start from,
    and raises the business errors), journal, write the new stocks, register, and resolve whatever
    fails. `draft` builds the receipt's data."""
    items = list(items)
    with ProductLocks([pid for pid, _q in items]) as locks:
        fresh = validate()
        locks.ensure_held()
        plan = [StockStep(pid, qty, fresh[pid].stock, fresh[pid].stock - qty) for pid, qty in items]
        try:
            attempt = journal().begin(dni=buyer.dni, usuario_id=known_buyer_id(buyer.dni), items=items,
                                      clave=ticket.clave if ticket else None,
                                      huella=ticket.fingerprint if ticket else None, stock=plan,
                                      request_id=context.current().request_id)
        except OSError as exc:
            logger.error("purchase journal unwritable: no stock taken (%s)", exc)
            raise JournalUnavailable() from exc
        if ticket is not None:
            ticket.attempt_id = attempt.id
        updated = _write_stock(upstreams, attempt, plan, locks)
        try:
            borrador = draft(updated)
        except Exception:  # noqa: BLE001 - a receipt that cannot be priced must not stop a paid-for purchase
            logger.exception("receipt draft failed for attempt %s", attempt.id)
            borrador = None
        # The confirmed writes and "sent" in one write and one fsync, durable before the registration
        # goes out: nothing happened in between that a crash could leave unrecorded.
        journal().record_many([*_stock_events(attempt, plan),
                               registration_event(attempt, "enviado", borrador=borrador)], critical=True)
        try:
            purchase = upstreams.users.purchase_create(productos=[pid for pid, _q in items],
                                                       cantidades=[qty for _pid, qty in items])
        except UpstreamError as exc:
            if not exc.may_have_landed:
                _fail(upstreams, attempt, exc, locks)
            journal().registration(attempt, "incierto")
            _keep_locks(locks)
            # A service that answered with an error (a 5xx) has finished with the request: one look
            # that succeeds tells. One that did not answer may still store it, and one that answered
            # 2xx with an unusable body did store it: look for a while, then say we do not know.
            answered = isinstance(exc, UpstreamFailed) and not exc.details.get("escritura_aplicada")
            grace = 0.0 if answered else settings.PURCHASE_GRACE_SECONDS
            found, looked = find_registered(attempt, upstreams.users.purchases_mine, grace=grace)
            if found is None and answered and looked:
                _fail(upstreams, attempt, exc, locks)
            if found is None:
                logger.warning("purchase %s: registration outcome unknown; stock kept", attempt.id)
                metrics.record_purchase("uncertain")
                raise UncertainOutcome(details={"servicio": exc.service, "intento": attempt.id}) from exc
            purchase = found
        except Exception as exc:  # noqa: BLE001 - whatever it is, the units go back before it is reported
            _fail(upstreams, attempt, exc, locks)
        else:
            # With a ticket, the caller journals `fin` before answering (`idempotency._settle`), and
            # that fsync makes this event durable too: one fsync for both.
            _mark_registered(attempt, purchase, sync=ticket is None)
    return Registered(purchase=purchase, draft=borrador, attempt=attempt)


def _write_stock(upstreams: Upstreams, attempt: Attempt, plan: list[StockStep],
                 locks: ProductLocks) -> dict[int, Product]:
    results = map_concurrently(lambda step: upstreams.products.product_set_stock(step.producto_id, step.despues),
                               plan, return_exceptions=True)
    failures: list[BaseException] = []
    for step, result in zip(plan, results, strict=True):
        if isinstance(result, Product):
            estado = "tomado"
        elif isinstance(result, UpstreamError) and result.may_have_landed:
            estado = "incierto"
        else:
            estado = "no_escrito"
        attempt.stock[step.producto_id].estado = estado
        if not isinstance(result, Product):
            failures.append(result)
    if failures:
        journal().record_many(_stock_events(attempt, plan), critical=True)
        _fail(upstreams, attempt, failures[0], locks)
    # Every write confirmed: their events go with the registration's "sent" (take_stock_and_register).
    return {r.id: r for r in results}


def _stock_events(attempt: Attempt, plan: list[StockStep]) -> list[dict[str, Any]]:
    return [stock_event(attempt, step.producto_id, attempt.stock[step.producto_id].estado) for step in plan]


def _fail(upstreams: Upstreams, attempt: Attempt, error: BaseException, locks: ProductLocks | None) -> None:
    """Give every unit back, journal the outcome, and raise `error` carrying `details.compensacion`."""
    compensacion = give_back(upstreams, attempt, locks=locks)
    if isinstance(error, OrchestratorError):
        error.details["compensacion"] = compensacion
    if compensacion["estado"] != "pendiente":
        body = error.as_dict() if isinstance(error, OrchestratorError) else None
        status = error.status if isinstance(error, OrchestratorError) else 500
        touched = compensacion["estado"] != "sin_cambios" or any(
            s.estado not in ("no_escrito", "planeado") for s in attempt.stock.values())
        journal().finish(attempt, GIVEN_BACK if touched else UNCHANGED, status=status, body=body)
    raise error


def _keep_locks(locks: ProductLocks) -> None:
    try:
        locks.extend()
    except CacheUnavailable:
        pass


def _mark_registered(attempt: Attempt, purchase: Purchase, *, sync: bool = True) -> None:
    journal().registration(attempt, "registrada", compra_id=purchase.id, usuario_id=purchase.usuario_id, sync=sync)
    metrics.record_purchase("registered")
    remember_buyer_number(attempt.dni, purchase.usuario_id)
    try:
        cache_call(cache.set, _claim_key(purchase.id), attempt.id, CLAIM_SECONDS)
    except CacheUnavailable:
        pass


# Giving back -------------------------------------------------------------------------------------
def give_back(upstreams: Upstreams, attempt: Attempt, *, locks: ProductLocks | None = None) -> dict[str, Any]:
    """Undo the attempt's stock steps. Confirmed writes get their units added back to what is there
    now; a write of unknown outcome is settled by writing, under the lock held since, the stock read
    before it (the products service applies it after any late write). With the lock lost, or long
    after (reconcile), a write of unknown outcome counts as landed only if the stock still shows it.
    Returns `details.compensacion`: `sin_cambios`, `devuelto`, or `pendiente` with what is left."""
    steps = [s for s in attempt.stock.values() if s.estado in ("tomado", "incierto", "planeado")]
    if not steps:
        return {"estado": "sin_cambios"}
    own = locks is None
    continuous = False  # our lock has been held without a break since the writes
    try:
        if own:
            locks = ProductLocks([s.producto_id for s in steps])
            locks.acquire()
            held = True
        else:
            continuous = not locks.lost()
            held = continuous or locks.reacquire()
    except LockUnavailable:
        held = False
    except CacheUnavailable:
        # With the cache gone nobody can take a lock, so nobody else writes stock meanwhile.
        logger.error("giving back without locks: the shared cache is unavailable")
        held, continuous = True, not own

    def restore(step: StockStep) -> str:
        if step.estado == "tomado":
            current = upstreams.products.product_get(step.producto_id).stock
            upstreams.products.product_set_stock(step.producto_id, current + step.cantidad)
            return "devuelto"
        if continuous:
            return _restore_absolute(upstreams, step, locks)
        current = upstreams.products.product_get(step.producto_id).stock
        if current == step.despues:
            upstreams.products.product_set_stock(step.producto_id, current + step.cantidad)
            return "devuelto"
        if current == step.antes:
            return "no_escrito"
        raise _Ambiguous(step)

    try:
        # The failure that brought us here may have used up the request's deadline; giving back
        # must still get its own read and write, or the stock stays taken for nothing.
        per_call = settings.UPSTREAM_CONNECT_TIMEOUT + settings.UPSTREAM_READ_TIMEOUT
        with context.deadline_extended((RESTORE_ATTEMPTS + 1) * per_call):
            results = (map_concurrently(restore, steps, return_exceptions=True) if held
                       else [LockUnavailable() for _s in steps])
    finally:
        if own and locks is not None:
            locks.release()
    pending = []
    for step, result in zip(steps, results, strict=True):
        if isinstance(result, str):
            step.estado = result
            journal().stock(attempt, step.producto_id, result)
        else:
            pending.append({"producto_id": step.producto_id, "unidades": step.cantidad,
                            **({} if step.estado == "tomado" else {"solo_si_stock_es": step.despues})})
    if not pending:
        metrics.record_purchase("compensated")
        return {"estado": "devuelto"}
    restore_text = ", ".join(f"producto {p['producto_id']}: +{p['unidades']}" for p in pending)
    logger.critical("stock NOT given back for attempt %s, run `manage.py reconcile` or restore by hand: %s",
                    attempt.id, restore_text, extra={"compensacion": {"intento": attempt.id, "productos": pending}})
    journal().needs_person(attempt, "devolucion_pendiente")
    return {"estado": "pendiente", "productos": pending, "intento": attempt.id}


def _restore_absolute(upstreams: Upstreams, step: StockStep, locks: ProductLocks) -> str:
    """Write the stock read under the lock, again until one write is answered: writes of one product
    are applied in order upstream, so once ours answers, the late one before it has landed too.
    Absolute values make the repeats harmless; the lock is kept (and extended) all along."""
    for attempt in range(1, RESTORE_ATTEMPTS + 1):
        try:
            upstreams.products.product_set_stock(step.producto_id, step.antes)
            return "restaurado"
        except UpstreamError:
            if attempt == RESTORE_ATTEMPTS:
                raise
            _keep_locks(locks)
    raise AssertionError("unreachable")


class _Ambiguous(Exception):
    def __init__(self, step: StockStep) -> None:
        super().__init__(f"stock of product {step.producto_id} moved since; cannot tell if our write landed")


# Finding a registration whose answer was lost ------------------------------------------------------
def _claim_key(compra_id: int) -> str:
    return f"compra:reclamada:{compra_id}"


def _claim(attempt: Attempt, compra_id: int) -> bool:
    """Make `compra_id` this attempt's purchase, unless another attempt already has it."""
    owner = journal().claimed_by(compra_id)
    if owner not in (None, attempt.id):
        return False
    try:
        if cache_call(cache.add, _claim_key(compra_id), attempt.id, CLAIM_SECONDS):
            return True
        return cache_call(cache.get, _claim_key(compra_id)) == attempt.id
    except CacheUnavailable:
        return owner is None or owner == attempt.id


def _same_items(purchase: Purchase, items: list[tuple[int, int]]) -> bool:
    totals: dict[int, int] = {}
    for pid, qty in zip(purchase.productos, purchase.cantidades, strict=True):
        totals[pid] = totals.get(pid, 0) + qty
    return totals == dict(items)


def _purchase_time(purchase: Purchase) -> dt.datetime:
    from dashboard.services.purchases.times import upstream_time

    return upstream_time(purchase.fecha)


def match(attempt: Attempt, purchases: list[Purchase], *, any_buyer: bool = False) -> Purchase | None:
    """The unclaimed purchase with the attempt's products and quantities, made after it started.

    `any_buyer` (reconcile over everyone's purchases with the buyer's number unknown): only a
    single candidate is taken, never a guess between several."""
    since = attempt.started_at - CLOCK_SKEW
    candidates = sorted(
        (p for p in purchases
         if _same_items(p, attempt.items) and _purchase_time(p) >= since
         and (attempt.usuario_id is None or p.usuario_id is None or p.usuario_id == attempt.usuario_id)
         and journal().claimed_by(p.id) in (None, attempt.id)),
        key=lambda p: p.id)
    if any_buyer and attempt.usuario_id is None and len(candidates) > 1:
        return None
    for candidate in candidates:
        if _claim(attempt, candidate.id):
            return candidate
    return None


def find_registered(attempt: Attempt, listing: Callable[[], list[Purchase]], *,
                    grace: float) -> tuple[Purchase | None, bool]:
    """Look for the attempt's purchase upstream for up to `grace` seconds (a late write lands late).

    Returns the purchase (or None) and whether the purchases could be read at least once: a listing
    that failed is "could not check", never "not there"."""
    ends = time.monotonic() + grace
    pause = 0.2
    looked = False
    with context.deadline_extended(grace + settings.UPSTREAM_CONNECT_TIMEOUT + settings.UPSTREAM_READ_TIMEOUT):
        while True:
            try:
                found = match(attempt, listing())
                looked = True
            except UpstreamError as exc:
                logger.warning("purchase %s: could not list purchases to resolve it (%s)", attempt.id, exc.code)
                found = None
            if found is not None:
                _mark_registered(attempt, found)
                return found, True
            if time.monotonic() + pause > ends:
                return None, looked
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


# Resolving an attempt later (a repeat with the same key, or reconcile) ------------------------------
@dataclass(frozen=True)
class Resolution:
    estado: str  # registrada | devuelta | sin_cambios | incierta | pendiente
    status: int | None = None
    body: Any = None
    purchase: Purchase | None = None


def resolve(attempt: Attempt, *, upstreams: Upstreams, listing: Callable[[], list[Purchase]],
            answer: Callable[[Purchase, dict | None], dict[str, Any]], any_buyer: bool = False) -> Resolution:
    """Decide an open attempt's outcome and journal it. `listing` gives the purchases to search (the
    buyer's, or everyone's for reconcile); `answer` builds the 201 body from the purchase and draft."""
    if attempt.resolved:
        return Resolution(attempt.fin["estado"], attempt.fin.get("status"), attempt.fin.get("body"))
    if attempt.registro == "registrada" and attempt.compra_id is not None:
        return _registered_resolution(attempt, _purchase_or_stub(attempt, listing), answer)
    if attempt.registro in ("enviado", "incierto"):
        try:
            found = match(attempt, listing(), any_buyer=any_buyer)
        except UpstreamError:
            return Resolution("incierta")
        if found is not None:
            _mark_registered(attempt, found)
            return _registered_resolution(attempt, found, answer)
        if time.time() - (attempt.registro_ts or attempt.inicio) < settings.PURCHASE_SETTLE_SECONDS:
            return Resolution("incierta")
    compensacion = give_back(upstreams, attempt)
    if compensacion["estado"] == "pendiente":
        return Resolution("pendiente", body={"compensacion": compensacion})
    error = PurchaseNotRegistered(
        _("La compra no llegó a registrarse; el stock tomado para ella se devolvió. Puede comprar de nuevo con "
          "otra Idempotency-Key."),
        details={"servicio": SERVICE_USERS, "compensacion": compensacion, "intento": attempt.id})
    journal().finish(attempt, GIVEN_BACK, status=error.status, body=error.as_dict())
    return Resolution(GIVEN_BACK, error.status, error.as_dict())


def _purchase_or_stub(attempt: Attempt, listing: Callable[[], list[Purchase]]) -> Purchase:
    try:
        for purchase in listing():
            if purchase.id == attempt.compra_id:
                return purchase
    except UpstreamError:
        pass
    pids = tuple(p for p, _q in attempt.items)
    return Purchase(id=attempt.compra_id, fecha_compra="", fecha=attempt.started_at, usuario_id=attempt.usuario_id,
                    productos=pids, cantidades=tuple(q for _p, q in attempt.items))


def _registered_resolution(attempt: Attempt, purchase: Purchase,
                           answer: Callable[[Purchase, dict | None], dict[str, Any]]) -> Resolution:
    body = answer(purchase, attempt.borrador)
    journal().finish(attempt, REGISTERED, status=201, body=body)
    return Resolution(REGISTERED, 201, body, purchase)


def failed_resolution_error(resolution: Resolution) -> OrchestratorError:
    """The error to answer for an attempt still open after trying to resolve it."""
    if resolution.estado == "incierta":
        return UncertainOutcome(details={"servicio": SERVICE_USERS})
    return UpstreamFailed(SERVICE_USERS, _("No se pudo devolver el stock de una compra no registrada; "
                                           "un operador debe revisarla (manage.py reconcile)."),
                          details=resolution.body or {})
