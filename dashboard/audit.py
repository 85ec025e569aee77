"""Decision history: every approve / reject / reset of a prescription, append-only.

Who (DNI, name, role), when, from which state to which, the checks' result (for an approval), the
reason, where from (API or dashboard) and whether the write landed (`ok`) or its outcome is unknown
(`incierto`: the prescriptions service timed out or failed after the request was sent).

Where it is kept, like the purchase journal:
- a JSON-lines file (`DECISION_AUDIT_LOG`, under var/ by default), appended and fsync'ed line by
  line, when the cache is process-local;
- a Redis list (through the cache's own Redis client) when `CACHE_URL` is Redis, so that every
  process serving the dashboard writes to and reads from the same history; while Redis fails, lines
  go to the file instead and are read back merged with the list.
A failure to record is logged at ERROR (the decision itself already happened upstream) and never
turns the decision into an error.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from dashboard import context
from dashboard.appendlog import FileLog, RedisLog, uses_redis
from dashboard.errors import OrchestratorError, OutcomeUncertain, UpstreamFailed, UpstreamTimeout

logger = logging.getLogger("dashboard.audit")

T = TypeVar("T")
LIMA = ZoneInfo("America/Lima")
REDIS_KEY = "auditoria:decisiones"
# Reading is for people: more than this many decisions are not shown nor exported at once.
READ_LIMIT = 20_000

_origin: contextvars.ContextVar[str] = contextvars.ContextVar("decision_origin", default="api")


@contextmanager
def origin(name: str) -> Iterator[None]:
    """Decisions recorded inside come from `name` ("panel"); anything else is the API."""
    token = _origin.set(name)
    try:
        yield
    finally:
        _origin.reset(token)


def recorded(write: Callable[[], T], *, caller: Any, receta: Any, estado: str, motivo: str | None = None,
             validaciones: dict | None = None) -> T:
    """Run the state `write` and record the decision: `ok` when it landed, `incierto` when unknown.

    A refusal (4xx) or a connection that never got through writes nothing, so nothing is recorded.
    """
    try:
        result = write()
    except (OutcomeUncertain, UpstreamTimeout, UpstreamFailed):
        _record(caller, receta, estado, motivo, validaciones, "incierto")
        raise
    _record(caller, receta, estado, motivo, validaciones, "ok")
    return result


def _record(caller: Any, receta: Any, estado: str, motivo: str | None, validaciones: dict | None,
            resultado: str) -> None:
    entry = {
        "fecha": timezone.now().astimezone(dt.UTC).isoformat(timespec="milliseconds"),
        "receta_id": receta.id, "paciente_dni": receta.paciente_dni, "medico_cmp": receta.medico_cmp,
        "estado_anterior": str(receta.estado).lower(), "estado": estado.lower(),
        "usuario_dni": caller.dni, "usuario_nombre": caller.full_name, "usuario_rol": caller.role,
        "validaciones": validaciones, "motivo": motivo, "origen": _origin.get(), "resultado": resultado,
        "request_id": context.current().request_id,
    }
    for store in _stores():
        try:
            store.append(_line(entry))
            return
        except Exception:  # the decision happened upstream: losing its record must not undo the answer
            logger.exception("decision on %s not recorded in %s", entry["receta_id"], type(store).__name__)
    logger.error("decision on %s not recorded in the audit history at all", entry["receta_id"])


# Reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionFilters:
    receta_id: str | None = None
    usuario_dni: str | None = None
    estado: str | None = None
    desde: dt.date | None = None
    hasta: dt.date | None = None

    def matches(self, entry: dict) -> bool:
        day = _local_day(entry.get("fecha"))
        return ((not self.receta_id or entry.get("receta_id") == self.receta_id)
                and (not self.usuario_dni or entry.get("usuario_dni") == self.usuario_dni)
                and (not self.estado or entry.get("estado") == self.estado)
                and (self.desde is None or (day is not None and day >= self.desde))
                and (self.hasta is None or (day is not None and day <= self.hasta)))


def _local_day(value: Any) -> dt.date | None:
    moment = parse_time(value)
    return moment.astimezone(LIMA).date() if moment else None


def parse_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class HistoryUnavailable(Exception):
    """The history could not be read (its store is down): unknown, not empty."""


def history_unavailable_error() -> OrchestratorError:
    return OrchestratorError(_("El historial de decisiones no está disponible en este momento"), status=503,
                             code="historial_no_disponible")


def decisions(filters: DecisionFilters = DecisionFilters()) -> list[dict]:
    """Recorded decisions matching `filters`, newest first, each with `fecha` as an aware datetime.

    Raises `HistoryUnavailable` when the store cannot be read.
    """
    primary, *fallback = _stores()
    try:
        entries = _read(primary)
    except Exception as exc:
        logger.exception("decision history not readable")
        raise HistoryUnavailable() from exc
    if fallback:  # lines written to the file while Redis was down, merged in time order
        extra = [e for e in _read_quietly(fallback[0]) if isinstance(e, dict)]
        if extra:
            entries = sorted([e for e in entries if isinstance(e, dict)] + extra, key=lambda e: str(e.get("fecha")))
    found = []
    for entry in entries:
        if isinstance(entry, dict) and filters.matches(entry):
            found.append({**entry, "fecha": parse_time(entry.get("fecha"))})
    found.reverse()
    return found


# Stores ------------------------------------------------------------------------------------------
def _line(entry: dict) -> bytes:
    return (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()


def _loads(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None  # a torn or foreign line is skipped, never a 500


def _read(store: FileLog | RedisLog) -> list[Any]:
    return [_loads(line) for line in store.read_tail(READ_LIMIT)]


def _read_quietly(store: FileLog) -> list[Any]:
    try:
        return _read(store)
    except OSError:
        logger.exception("decision history fallback file not readable")
        return []


def _stores() -> list[FileLog | RedisLog]:
    """Where decisions go, in order: Redis then the file as its fallback when the cache is Redis; else the file."""
    file_store = FileLog(settings.DECISION_AUDIT_LOG)
    return [RedisLog(REDIS_KEY), file_store] if uses_redis() else [file_store]


def _store() -> FileLog | RedisLog:
    return _stores()[0]
