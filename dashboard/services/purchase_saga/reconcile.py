"""Resolving the journal's open attempts after a crash, a lost answer or a failed give-back.

For each attempt left open: its registration, if it may have been sent, is looked for among
everyone's purchases (an ADMIN listing): found, it is the purchase; not found once
`PURCHASE_SETTLE_SECONDS` have passed, it never happened and the stock taken for it goes back
(under the same locks); otherwise it is left for a later run. Attempts younger than
`stale_after()` may still be running in a live process and are left alone.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dashboard.clients import Upstreams, UsersClient, upstreams_for
from dashboard.errors import OrchestratorError, PermissionDenied
from dashboard.services.purchase_saga.idempotency import stale_after
from dashboard.services.purchase_saga.journal import Attempt, journal
from dashboard.services.purchase_saga.saga import resolve
from dashboard.types import Purchase

# What a row of the report says.
RESOLVED_STATES = {"registrada", "devuelta", "sin_cambios"}


@dataclass(frozen=True)
class Outcome:
    attempt: Attempt
    estado: str  # registrada | devuelta | sin_cambios | incierta | pendiente | en_curso | error
    detalle: str = ""

    @property
    def resolved(self) -> bool:
        return self.estado in RESOLVED_STATES


def admin_upstreams(*, dni: str, password: str) -> Upstreams:
    """Sign in as the ADMIN that lists everyone's purchases (the users service checks the role)."""
    token = UsersClient().login(dni=dni, password=password)
    upstreams = upstreams_for(token)
    me = upstreams.users.me()
    if not me.is_admin:
        raise PermissionDenied()
    return upstreams


STOCK_STATES = {
    "planeado": "escritura sin confirmar", "tomado": "tomado", "incierto": "escritura incierta",
    "no_escrito": "no se escribió", "devuelto": "devuelto", "restaurado": "restaurado",
}
REGISTRATION_STATES = {
    None: "no enviado", "enviado": "enviado, sin respuesta", "incierto": "resultado incierto",
    "registrada": "registrada", "no_registrada": "no registrada",
}


def pending_operations() -> list[dict]:
    """Open attempts as the dashboard shows them, oldest first (those that may still be running marked)."""
    now = time.time()
    stale = stale_after()
    return [{
        "intento": attempt.id, "inicio": attempt.started_at, "dni": attempt.dni,
        "productos": [{"producto_id": p, "cantidad": c} for p, c in attempt.items],
        "stock": [{"producto_id": pid, "estado": STOCK_STATES.get(step.estado, step.estado),
                   "antes": step.antes, "despues": step.despues} for pid, step in sorted(attempt.stock.items())],
        "registro": REGISTRATION_STATES.get(attempt.registro, attempt.registro),
        "compra_id": attempt.compra_id,
        "necesita_persona": attempt.pendiente is not None,
        "en_curso": now - attempt.inicio < stale,
    } for attempt in journal().open_attempts()]


def reconcile(*, upstreams: Upstreams, listing: Callable[[], list[Purchase]], min_age: float | None = None
              ) -> list[Outcome]:
    """Resolve every open attempt; one `Outcome` each, in the order they started."""
    from dashboard.services.purchases.resolve import receipt_answer  # the receipt is the purchase service's

    age = stale_after() if min_age is None else min_age
    cached: list[Purchase] | None = None

    def everyone() -> list[Purchase]:
        nonlocal cached
        if cached is None:
            cached = listing()
        return cached

    outcomes = []
    for attempt in journal().open_attempts():
        if time.time() - attempt.inicio < age:
            outcomes.append(Outcome(attempt, "en_curso", "puede seguir en curso; vuelva a ejecutar en un momento"))
            continue
        try:
            resolution = resolve(attempt, upstreams=upstreams, listing=everyone, answer=receipt_answer,
                                 any_buyer=True)
        except OrchestratorError as exc:
            outcomes.append(Outcome(attempt, "error", exc.message))
            continue
        detalle = {
            "registrada": f"compra {attempt.compra_id} registrada; el stock queda tomado",
            "devuelta": "no se registró; stock devuelto",
            "sin_cambios": "no se tomó stock",
            "incierta": "el registro aún puede llegar; vuelva a ejecutar más tarde",
            "pendiente": "no se pudo devolver el stock; revise los productos a mano",
        }.get(resolution.estado, "")
        outcomes.append(Outcome(attempt, resolution.estado, detalle))
    return outcomes
