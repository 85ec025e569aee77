"""Answering a repeat of a purchase whose first attempt touched stock: from the journal, never buying again."""
from __future__ import annotations

from typing import Any

from dashboard.clients import Upstreams
from dashboard.services.purchase_saga.journal import Attempt
from dashboard.services.purchase_saga.saga import failed_resolution_error, resolve
from dashboard.services.purchases.register import receipt_from_draft
from dashboard.services.purchases.wire import receipt_to_wire
from dashboard.types import Purchase, User


def receipt_answer(purchase: Purchase, draft: dict | None) -> dict[str, Any]:
    """The 201 body for a purchase found or confirmed after the fact."""
    return receipt_to_wire(receipt_from_draft(purchase, draft))


def purchase_resolve(*, upstreams: Upstreams, buyer: User, attempt: Attempt) -> tuple[int, Any]:
    """The real outcome of `attempt` for its buyer: 201 (found or stored), the resolved failure, or
    still 504 `resultado_incierto` (raised) while the registration may yet land."""
    resolution = resolve(attempt, upstreams=upstreams, listing=upstreams.users.purchases_mine, answer=receipt_answer)
    if resolution.status is None:
        raise failed_resolution_error(resolution)
    return resolution.status, resolution.body
