"""A buyer's DNI and the users service's internal `usuarioId`, which no endpoint maps to each other.

Learnt from the buyer's own purchases (their listing, or a purchase registered through us) and
kept in the shared cache: prescriptions' "dispensado" and the purchase journal use it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.cache import cache

from dashboard.sharedcache import cache_try
from dashboard.types import Purchase

# It never changes for a user.
BUYER_ID_CACHE_SECONDS = 30 * 24 * 3600


def remember_buyer_id(dni: str, purchases: Sequence[Purchase]) -> None:
    """Note the DNI's internal `usuarioId` from the buyer's own purchases (`/api/compras/me`)."""
    ids = {p.usuario_id for p in purchases if p.usuario_id is not None}
    if len(ids) == 1:
        remember_buyer_number(dni, ids.pop())


def remember_buyer_number(dni: str, usuario_id: int | None) -> None:
    """The DNI's internal `usuarioId`, as a purchase of theirs showed it (the purchase journal uses it too)."""
    if usuario_id is not None:
        cache_try(cache.set, f"usuario_id_por_dni:{dni}", usuario_id, BUYER_ID_CACHE_SECONDS)
        # And the other way, so that staff see the buyer of a purchase by name.
        cache_try(cache.set, f"dni_por_usuario_id:{usuario_id}", dni, BUYER_ID_CACHE_SECONDS)


def known_buyer_id(dni: str) -> int | None:
    return cache_try(cache.get, f"usuario_id_por_dni:{dni}")


def known_buyer_dnis(usuario_ids: Iterable[int]) -> dict[int, str]:
    """The DNI behind each `usuarioId` seen before (unknown ones are left out)."""
    keys = {i: f"dni_por_usuario_id:{i}" for i in usuario_ids}
    found = cache_try(cache.get_many, list(keys.values())) if keys else {}
    return {i: found[key] for i, key in keys.items() if found and key in found}
