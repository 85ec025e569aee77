"""`Idempotency-Key`: one key never yields two purchases, whatever happened to the first attempt.

State lives in Django's cache under a hash of (buyer's DNI, key):
- `en_curso` while a request runs (`cache.add`, atomic: of two concurrent repeats only one runs);
  a marker older than `stale_after()` belongs to a process that died and is taken over;
- `completa`: the answer, replayed for 24 h: the 201, business 400s, and every resolved failure
  of an attempt that touched stock;
- `incierto`: an attempt whose outcome is not known yet; a repeat resolves it from the journal.
When the cache has forgotten a key (restart, eviction), the purchase journal still knows every
attempt that touched stock under it, so the repeat is answered from there and never buys again.
A failure before any stock was touched (5xx, a busy lock) drops the marker: a retry may still buy.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from dashboard.errors import BadRequest, CacheUnavailable, Conflict, OrchestratorError, UncertainOutcome, Unprocessable
from dashboard.services.purchase_saga.journal import UNCHANGED, journal
from dashboard.sharedcache import cache_call

logger = logging.getLogger("dashboard.purchases")

REPLAY_SECONDS = 24 * 60 * 60
IN_PROGRESS_SECONDS = 300
STORED_STATUSES = {200, 201, 400}

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def stale_after() -> float:
    """Seconds after which an `en_curso` marker can only belong to a process that died: longer than
    any purchase can take (lock wait, the request deadline, the grace window, the give-back)."""
    per_call = settings.UPSTREAM_CONNECT_TIMEOUT + settings.UPSTREAM_READ_TIMEOUT
    return (settings.STOCK_LOCK_WAIT + settings.UPSTREAM_DEADLINE + settings.PURCHASE_GRACE_SECONDS
            + 4 * per_call + 5)


@dataclass
class Ticket:
    """One purchase request's identity for idempotency: who, which key, which body."""

    scope: str
    key: str
    fingerprint: str
    generated: bool = False  # the client sent no key; we made one and give it back when it matters
    attempt_id: str | None = None  # set once the saga journals an attempt (stock touched)

    @property
    def clave(self) -> str:
        return hashlib.sha256(f"{self.scope}\n{self.key}".encode()).hexdigest()


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: Any
    replayed: bool = False


def idempotency_key(value: str | None) -> str | None:
    """The header's value when sane (1..255 visible ASCII), None when absent, else 400."""
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise BadRequest(_("La cabecera Idempotency-Key debe tener entre 1 y 255 caracteres ASCII visibles"),
                         code="idempotency_key_invalida")
    return value


def new_key() -> str:
    return f"orq-{uuid.uuid4().hex}"


def fingerprint(data: Any) -> str:
    """sha256 of the canonical JSON of a parsed request (key order and spacing do not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cache_key(ticket: Ticket) -> str:
    return "idempotencia:" + ticket.clave


def run_idempotent(*, ticket: Ticket, work: Callable[[], tuple[int, Any]],
                   resolve: Callable[[Any], tuple[int, Any]]) -> IdempotentResponse:
    """Run `work` (-> status, body) once per ticket; afterwards replay, or `resolve` the journaled attempt."""
    cache_key = _cache_key(ticket)
    marker = {"estado": "en_curso", "huella": ticket.fingerprint, "inicio": time.time()}
    resolving_key = cache_key + ":resolviendo"
    taken_over = False
    if not cache_call(cache.add, cache_key, marker, IN_PROGRESS_SECONDS):
        stored = cache_call(cache.get, cache_key)
        if stored is None:  # it expired between add and get: a fresh key, once
            if not cache_call(cache.add, cache_key, marker, IN_PROGRESS_SECONDS):
                raise _in_progress()
        else:
            if stored.get("huella") != ticket.fingerprint:
                raise _reused()
            if stored.get("estado") == "completa":
                return IdempotentResponse(stored["status"], stored["body"], replayed=True)
            if stored.get("estado") == "en_curso" and time.time() - stored.get("inicio", 0) < stale_after():
                raise _in_progress()
            # Uncertain, or left behind by a process that died: one repeat at a time resolves it.
            if not cache_call(cache.add, resolving_key, 1, IN_PROGRESS_SECONDS):
                raise _in_progress()
            taken_over = True
            cache_call(cache.set, cache_key, marker, IN_PROGRESS_SECONDS)
    try:
        attempt = journal().find_by_key(ticket.clave)
        if attempt is not None:
            if attempt.huella != ticket.fingerprint:
                _forget(cache_key)
                raise _reused()
            ticket.attempt_id = attempt.id
            return _settle(cache_key, ticket, lambda: resolve(attempt), replayed=True)
        return _settle(cache_key, ticket, work, replayed=False)
    finally:
        if taken_over:
            _forget(resolving_key)


def _settle(cache_key: str, ticket: Ticket, run: Callable[[], tuple[int, Any]], *,
            replayed: bool) -> IdempotentResponse:
    try:
        status, body = _run_durably(run, ticket)
    except UncertainOutcome as exc:
        exc.details["idempotency_key"] = ticket.key
        exc.headers = {**getattr(exc, "headers", {}), "Idempotency-Key": ticket.key}
        _store(cache_key, {"estado": "incierto", "huella": ticket.fingerprint, "intento": ticket.attempt_id})
        raise
    except OrchestratorError as exc:
        if _resolved(ticket) or (ticket.attempt_id is None and exc.status in STORED_STATUSES):
            _store(cache_key, _complete(ticket, exc.status, exc.as_dict()))
        elif ticket.attempt_id is not None:
            _store(cache_key, {"estado": "incierto", "huella": ticket.fingerprint, "intento": ticket.attempt_id})
        else:
            _forget(cache_key)
        raise
    except BaseException:
        if ticket.attempt_id is not None:  # stock was touched: the journal decides on the next repeat
            _store(cache_key, {"estado": "incierto", "huella": ticket.fingerprint, "intento": ticket.attempt_id})
        else:
            _forget(cache_key)
        raise
    if ticket.attempt_id is not None and status < 400:
        # Ours and in progress (the key's marker keeps repeats out, reconcile leaves young attempts
        # alone): what this process folded is all there is.
        attempt = journal().get(ticket.attempt_id, refresh=False)
        if attempt is not None and not attempt.resolved:
            journal().finish(attempt, "registrada", status=status, body=body)  # its fsync covers the saga's
        else:
            journal().sync()
    _store(cache_key, _complete(ticket, status, body))
    return IdempotentResponse(status, body, replayed=replayed)


def _run_durably(run: Callable[[], tuple[int, Any]], ticket: Ticket) -> tuple[int, Any]:
    """`run()`; if it fails once stock was touched, what it journaled without waiting (the
    registration's outcome, see saga.take_stock_and_register) is made durable before answering.
    On success the `fin` event's fsync does that."""
    try:
        return run()
    except BaseException:
        if ticket.attempt_id is not None:
            journal().sync()
        raise


def _resolved(ticket: Ticket) -> bool:
    """Stock was touched and the attempt is resolved: its failure is the key's answer from now on.
    An attempt that never wrote a unit (`sin_cambios`) leaves the key free, like any failure before."""
    if ticket.attempt_id is None:
        return False
    attempt = journal().get(ticket.attempt_id)
    if attempt is not None and attempt.resolved and attempt.fin["estado"] == UNCHANGED:
        ticket.attempt_id = None
        return False
    return attempt is not None and attempt.resolved


def _complete(ticket: Ticket, status: int, body: Any) -> dict[str, Any]:
    return {"estado": "completa", "huella": ticket.fingerprint, "status": status, "body": body}


def _store(cache_key: str, value: dict[str, Any]) -> None:
    # The answer is already decided (and journaled when stock was touched): a cache that just went
    # away must not turn it into an error.
    try:
        cache_call(cache.set, cache_key, value, REPLAY_SECONDS)
    except CacheUnavailable:
        logger.error("idempotency record not stored (cache unavailable); the journal keeps the attempt")


def _forget(cache_key: str) -> None:
    try:
        cache_call(cache.delete, cache_key)
    except CacheUnavailable:
        pass


def _reused() -> Unprocessable:
    return Unprocessable(_("La Idempotency-Key ya se usó con una solicitud distinta"),
                         code="idempotency_key_reutilizada")


def _in_progress() -> Conflict:
    return Conflict(_("Una solicitud con la misma Idempotency-Key todavía está en curso"),
                    code="idempotency_en_curso")
