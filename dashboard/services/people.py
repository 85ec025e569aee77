"""People by name for the dashboard: patients and buyers (users service), doctors (doctors service).

Read once per page (users and doctors concurrently) and cached `NAMES_CACHE_SECONDS`, so a page
listing 20 prescriptions makes at most two upstream reads, and usually none.

Purchases carry a numeric `usuarioId` that no users endpoint exposes. What the orchestrator sees
ties some of them to people (`dashboard.services.buyers`: a customer's own list is all theirs, a
purchase registered through the orchestrator is its buyer's); any other buyer is "Cliente #id".
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from dashboard.clients import Upstreams
from dashboard.concurrency import gather
from dashboard.errors import UpstreamError
from dashboard.services.buyers import known_buyer_dnis
from dashboard.sharedcache import cache_try
from dashboard.text import name_key
from dashboard.types import Doctor, User

USERS_KEY = "nombres:usuarios"
DOCTORS_KEY = "nombres:medicos"
DOCTOR_PAGE_LIMIT = 100
DOCTOR_MAX_PAGES = 20


@dataclass(frozen=True)
class Person:
    nombre: str
    dni: str


@dataclass(frozen=True)
class People:
    """Names for one page; an empty map means "not known", never "does not exist"."""

    users: dict[str, User] = field(default_factory=dict)
    doctors: dict[str, Doctor] = field(default_factory=dict)
    buyers: dict[int, str] = field(default_factory=dict)  # usuarioId -> DNI
    advertencias: tuple[str, ...] = ()

    def patient(self, dni: str) -> str | None:
        user = self.users.get(dni)
        return user.full_name if user and user.full_name != dni else None

    def doctor(self, cmp: str) -> str | None:
        doctor = self.doctors.get(cmp)
        return doctor.nombre if doctor and doctor.nombre else None

    def buyer(self, usuario_id: int | None) -> Person | None:
        dni = self.buyers.get(usuario_id) if usuario_id is not None else None
        if dni is None:
            return None
        return Person(nombre=self.patient(dni) or dni, dni=dni)


def _cached(key: str, read: Any) -> Any:
    # Names are a nicety: a cache that fails (Redis down) means reading them again, never an error.
    ttl = settings.NAMES_CACHE_SECONDS
    value = cache_try(cache.get, key) if ttl > 0 else None
    if value is None:
        value = read()
        if ttl > 0:
            cache_try(cache.set, key, value, ttl)
    return value


def _all_users(upstreams: Upstreams) -> dict[str, User]:
    return _cached(USERS_KEY, lambda: {user.dni: user for user in upstreams.users.users_all()})


def _all_doctors(upstreams: Upstreams) -> dict[str, Doctor]:
    def read() -> dict[str, Doctor]:
        found: dict[str, Doctor] = {}
        for page in range(1, DOCTOR_MAX_PAGES + 1):
            result = upstreams.prescriptions.doctors_filter(page=page, limit=DOCTOR_PAGE_LIMIT)
            found.update((doctor.cmp, doctor) for doctor in result.items)
            if not result.items or page * max(result.limit, len(result.items)) >= result.total:
                break
        return found
    return _cached(DOCTORS_KEY, read)


def people_for(*, upstreams: Upstreams, caller: User, doctors: bool = True,
               usuario_ids: Iterable[int | None] = ()) -> People:
    """Names the page may show: ADMIN sees everyone's, a customer only their own (no extra call).

    A service that fails leaves its names unknown and is named in `advertencias`; the page still renders.
    """
    calls: list[Any] = [(lambda: _all_users(upstreams)) if caller.is_admin else (lambda: {caller.dni: caller})]
    if doctors:
        calls.append(lambda: _all_doctors(upstreams))
    results = gather(calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, UpstreamError):
            raise result
    users, found_doctors = (results + [{}])[:2]
    warnings = tuple(dict.fromkeys(r.message for r in results if isinstance(r, UpstreamError)))
    ids = [i for i in dict.fromkeys(usuario_ids) if i is not None]
    buyers = known_buyer_dnis(ids) if caller.is_admin else dict.fromkeys(ids, caller.dni)
    return People(users={} if isinstance(users, BaseException) else users,
                  doctors={} if isinstance(found_doctors, BaseException) else found_doctors,
                  buyers=buyers, advertencias=warnings)


# Search ------------------------------------------------------------------------------------------
def users_named(people: People, text: str) -> list[User]:
    """Users whose full name contains every word typed, ignoring case and accents."""
    words = name_key(text).split()
    return [user for user in people.users.values()
            if words and all(word in name_key(user.full_name) for word in words)]


def doctors_named(people: People, text: str) -> list[Doctor]:
    words = name_key(text).split()
    return [doctor for doctor in people.doctors.values()
            if words and all(word in name_key(doctor.nombre) for word in words)]
