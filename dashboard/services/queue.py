"""The validation queue: pending prescriptions oldest first (FIFO), counts per state, what is new.

The prescriptions service only lists newest first, so the pending queue is read whole (bounded:
`QUEUE_MAX_PAGES` x 100, concurrently after the first page) and turned around here. A pharmacy's
pending queue is short; a queue longer than the bound shows its oldest part as far as it was read
and says so (`completa` False).
"""
from __future__ import annotations

from dataclasses import dataclass

from dashboard.clients import Upstreams
from dashboard.concurrency import gather, map_concurrently
from dashboard.errors import UpstreamError
from dashboard.services.prescriptions import prescriptions_list
from dashboard.types import Prescription, PrescriptionPage, User

UPSTREAM_PAGE = 100
QUEUE_MAX_PAGES = 10
COUNTED_STATES = ("pendiente", "validada", "rechazada")


@dataclass(frozen=True)
class PendingQueue:
    items: tuple[Prescription, ...]  # oldest first
    total: int  # as the service counts them
    completa: bool = True

    @property
    def newest_created(self) -> str:
        return max((p.created_at for p in self.items), default="")

    def page(self, number: int, size: int) -> PrescriptionPage:
        pages = max(-(-len(self.items) // size), 1)
        number = min(max(number, 1), pages)
        return PrescriptionPage(page=number, pagesize=size, total=len(self.items),
                                items=self.items[(number - 1) * size:number * size])

    def after(self, receta_id: str) -> Prescription | None:
        """The next prescription to work on once `receta_id` is decided: the oldest other pending one."""
        return next((p for p in self.items if p.id != receta_id), None)


def fifo_key(item: Prescription) -> tuple:
    return (item.created_at, item.fecha_emision, item.id)


def pending_queue(*, upstreams: Upstreams, caller: User, dni: str | None = None,
                  cmp: str | None = None) -> PendingQueue:
    def read(page: int) -> PrescriptionPage:
        return prescriptions_list(upstreams=upstreams, caller=caller, estado="pendiente", dni=dni, cmp=cmp,
                                  page=page, pagesize=UPSTREAM_PAGE)

    first = read(1)
    size = max(first.pagesize, 1)  # the service clamps pagesize: trust what it says it used
    needed = -(-first.total // size)
    pages = min(needed, QUEUE_MAX_PAGES)
    rest = map_concurrently(read, range(2, pages + 1))
    unique = {p.id: p for page in (first, *rest) for p in page.items
              if p.estado == "pendiente"}  # re-checked: a deployment may ignore the filter
    return PendingQueue(items=tuple(sorted(unique.values(), key=fifo_key)), total=first.total,
                        completa=needed <= QUEUE_MAX_PAGES)


def state_counts(*, upstreams: Upstreams, caller: User, dni: str | None = None,
                 cmp: str | None = None) -> dict[str, int | None]:
    """How many prescriptions each tab holds (None: could not be counted), one small call per state."""
    results = gather([lambda estado=estado: prescriptions_list(upstreams=upstreams, caller=caller, estado=estado,
                                                               dni=dni, cmp=cmp, pagesize=1)
                      for estado in COUNTED_STATES], return_exceptions=True)
    counts: dict[str, int | None] = {}
    for estado, result in zip(COUNTED_STATES, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, UpstreamError):
            raise result
        counts[estado] = None if isinstance(result, BaseException) else result.total
    known = [n for n in counts.values() if n is not None]
    counts["todas"] = sum(known) if len(known) == len(COUNTED_STATES) else None
    return counts


def pending_new(*, upstreams: Upstreams, caller: User, since: str, dni: str | None = None,
                cmp: str | None = None) -> int:
    """How many pending prescriptions arrived after `since` (a `createdAt`): one call, newest first."""
    newest = prescriptions_list(upstreams=upstreams, caller=caller, estado="pendiente", dni=dni, cmp=cmp,
                                pagesize=UPSTREAM_PAGE)
    return sum(1 for p in newest.items if p.estado == "pendiente" and p.created_at > since)
