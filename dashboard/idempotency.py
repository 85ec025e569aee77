"""`Idempotency-Key`: the same caller repeating a key with the same request gets the first answer.

State lives in Django's cache under a hash of (caller DNI, key): first an "in progress" marker
(`cache.add`, atomic, so of two concurrent repeats only one runs), then the final status and body
for 24 h. Only definitive answers are stored: the 201 and business 400s (stock, prescription,
unknown product). Anything else (5xx, 503 lock busy, a 401/403 from upstream, a crash) drops the
marker, so a retry with the same key can still succeed.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _

from dashboard.errors import BadRequest, Conflict, OrchestratorError, Unprocessable

REPLAY_SECONDS = 24 * 60 * 60
# Longer than any purchase can take (lock wait + a few upstream timeouts); after a crash the key
# frees itself after this.
IN_PROGRESS_SECONDS = 120
STORED_STATUSES = {200, 201, 400}

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


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


def fingerprint(data: Any) -> str:
    """sha256 of the canonical JSON of a parsed request (key order and spacing do not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cache_key(scope: str, key: str) -> str:
    return "idempotencia:" + hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def run_idempotent(*, scope: str, key: str | None, request_fingerprint: str,
                   work: Callable[[], tuple[int, Any]]) -> IdempotentResponse:
    """Run `work` (-> status, body) once per (scope, key); replay its stored answer afterwards."""
    if key is None:
        return IdempotentResponse(*work())
    cache_key = _cache_key(scope, key)
    marker = {"estado": "en_curso", "huella": request_fingerprint}
    if not cache.add(cache_key, marker, IN_PROGRESS_SECONDS):
        stored = cache.get(cache_key)
        if stored is None:  # it expired between add and get: treat as a fresh key, once
            if not cache.add(cache_key, marker, IN_PROGRESS_SECONDS):
                raise _in_progress()
        else:
            return _replay(stored, request_fingerprint)
    try:
        status, body = work()
    except OrchestratorError as exc:
        _finish(cache_key, request_fingerprint, exc.status, exc.as_dict())
        raise
    except BaseException:
        cache.delete(cache_key)
        raise
    _finish(cache_key, request_fingerprint, status, body)
    return IdempotentResponse(status, body)


def _finish(cache_key: str, request_fingerprint: str, status: int, body: Any) -> None:
    if status in STORED_STATUSES:
        cache.set(cache_key, {"estado": "completa", "huella": request_fingerprint, "status": status, "body": body},
                  REPLAY_SECONDS)
    else:
        cache.delete(cache_key)


def _replay(stored: dict, request_fingerprint: str) -> IdempotentResponse:
    if stored.get("huella") != request_fingerprint:
        raise Unprocessable(_("La Idempotency-Key ya se usó con una solicitud distinta"),
                            code="idempotency_key_reutilizada")
    if stored.get("estado") != "completa":
        raise _in_progress()
    return IdempotentResponse(stored["status"], stored["body"], replayed=True)


def _in_progress() -> Conflict:
    return Conflict(_("Una solicitud con la misma Idempotency-Key todavía está en curso"),
                    code="idempotency_en_curso")
