"""The purchase journal: a write-ahead, append-only record of every attempt that touches stock.

An attempt is recorded before its first stock write (`inicio`: buyer, items, the stock before and
after for each product, the idempotency key's hash), then one event per step (`stock`: a write
confirmed, uncertain, restored or given back; `registro`: the registration sent, found, or not
made) and a last one when it is resolved (`fin`: the answer the caller gets, replayed for the same
`Idempotency-Key`). An attempt without `fin` is open: `manage.py reconcile` resolves it.

Where it lives:
- a JSON-lines file (`PURCHASE_JOURNAL`, default `var/diario-compras.jsonl`), each event appended
  with one `write` and `fsync`ed, so a SIGKILL loses nothing that was acknowledged. Three fsyncs
  per purchase: `inicio` (before the first stock write); the stock outcomes with `registro/enviado`
  (`record_many`, before the registration is sent); `fin`, whose fsync also covers `registro/registrada`,
  written just before it without one (`sync=False`; on a failure path `sync()` does it) -- each
  durable before the step it protects, and all before answering;
- a Redis list when `CACHE_URL` is Redis, shared by every worker and host. If Redis fails while an
  attempt is under way, its events go to the file instead (and are read from both).
The same format in both: one JSON object per event, `{"intento": <id>, "evento": ..., ...}`.
It stays bounded: attempts resolved more than `PURCHASE_JOURNAL_KEEP_DAYS` ago are forgotten in
memory (`refresh`), and `compact` (`manage.py compact_journal`) drops their events from the logs while
other processes go on; a process that was reading a log compacted under it reads it anew (`_rebuild`).
Nothing secret is written: no tokens, no passwords, no request bodies beyond ids and quantities.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from dashboard.appendlog import FileLog, RedisLog, uses_redis

logger = logging.getLogger("dashboard.purchases.journal")

REDIS_KEY = "diario:compras:eventos"

# How an attempt ends (`fin.estado`).
REGISTERED = "registrada"  # the purchase exists upstream; stock stays taken
GIVEN_BACK = "devuelta"  # nothing registered; every unit taken was given back
UNCHANGED = "sin_cambios"  # nothing registered, nothing taken


@dataclass
class StockStep:
    producto_id: int
    cantidad: int
    antes: int
    despues: int
    # planeado (write not confirmed yet) | tomado | incierto | no_escrito | devuelto | restaurado
    estado: str = "planeado"


@dataclass
class Attempt:
    """An attempt as folded from its events."""

    id: str
    dni: str
    usuario_id: int | None
    items: list[tuple[int, int]]
    clave: str | None  # hash of (buyer, Idempotency-Key)
    huella: str | None  # hash of the request
    inicio: float  # epoch seconds
    request_id: str = "-"
    stock: dict[int, StockStep] = field(default_factory=dict)
    # None (not sent) | enviado | incierto | registrada | no_registrada
    registro: str | None = None
    registro_ts: float | None = None
    borrador: dict[str, Any] | None = None
    compra_id: int | None = None
    fin: dict[str, Any] | None = None  # {"estado", "status", "body"}
    fin_ts: float | None = None  # when it was resolved (epoch seconds)
    pendiente: str | None = None  # why a person must look (set by reconcile/give-back), while open

    @property
    def resolved(self) -> bool:
        return self.fin is not None

    @property
    def started_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.inicio, tz=dt.UTC)

    def taken_units(self) -> dict[int, int]:
        """Units known to be out of stock for this attempt, per product (confirmed writes only)."""
        return {pid: step.cantidad for pid, step in self.stock.items() if step.estado == "tomado"}

    def summary(self) -> dict[str, Any]:
        return {"intento": self.id, "dni": self.dni, "inicio": self.started_at.isoformat(),
                "productos": [{"producto_id": p, "cantidad": c} for p, c in self.items],
                "stock": {str(pid): step.estado for pid, step in self.stock.items()},
                "registro": self.registro, "compra_id": self.compra_id, "pendiente": self.pendiente,
                "request_id": self.request_id}


def _fold(attempts: dict[str, Attempt], by_key: dict[str, str], claimed: dict[int, str], event: dict) -> None:
    kind, aid = event.get("evento"), event.get("intento")
    if kind == "inicio":
        attempt = Attempt(id=aid, dni=event["dni"], usuario_id=event.get("usuario_id"),
                          items=[(int(p), int(c)) for p, c in event["productos"]], clave=event.get("clave"),
                          huella=event.get("huella"), inicio=float(event["inicio"]),
                          request_id=event.get("request_id", "-"))
        for step in event.get("stock", []):
            attempt.stock[int(step["producto_id"])] = StockStep(int(step["producto_id"]), int(step["cantidad"]),
                                                                int(step["antes"]), int(step["despues"]))
        attempts[aid] = attempt
        if attempt.clave:
            by_key[attempt.clave] = aid
        return
    attempt = attempts.get(aid)
    if attempt is None:
        return
    if kind == "stock":
        step = attempt.stock.get(int(event["producto_id"]))
        if step is not None:
            step.estado = event["estado"]
    elif kind == "registro":
        attempt.registro = event["estado"]
        if event["estado"] == "enviado":
            attempt.registro_ts = float(event.get("ts", time.time()))
            attempt.borrador = event.get("borrador")
        if event.get("compra_id") is not None:
            attempt.compra_id = int(event["compra_id"])
            claimed[attempt.compra_id] = aid
        if event.get("usuario_id") is not None:
            attempt.usuario_id = int(event["usuario_id"])
    elif kind == "pendiente":
        attempt.pendiente = event.get("motivo")
    elif kind == "fin":
        attempt.fin = {"estado": event["estado"], "status": event.get("status"), "body": event.get("body")}
        attempt.fin_ts = float(event.get("ts", attempt.inicio))
        attempt.pendiente = None


def stock_event(attempt: Attempt, producto_id: int, estado: str) -> dict[str, Any]:
    return {"intento": attempt.id, "evento": "stock", "producto_id": producto_id, "estado": estado}


def registration_event(attempt: Attempt, estado: str, *, compra_id: int | None = None, usuario_id: int | None = None,
                       borrador: dict | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"intento": attempt.id, "evento": "registro", "estado": estado}
    if compra_id is not None:
        event["compra_id"] = compra_id
    if usuario_id is not None:
        event["usuario_id"] = usuario_id
    if borrador is not None:
        event["borrador"] = borrador
    return event


# How often a process forgets, in memory, attempts past PURCHASE_JOURNAL_KEEP_DAYS.
PRUNE_EVERY_SECONDS = 60.0


def _fold_lines(log: FileLog | RedisLog, lines: list[bytes], attempts: dict[str, Attempt], by_key: dict[str, str],
                claimed: dict[int, str]) -> None:
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            logger.error("purchase journal %s: skipping a damaged line", log.describe())
            continue
        if isinstance(event, dict):
            try:
                _fold(attempts, by_key, claimed, event)
            except (KeyError, TypeError, ValueError):
                logger.error("purchase journal %s: skipping an incomplete event", log.describe())


def _expired(attempts: dict[str, Attempt], now: float) -> set[str]:
    """Attempts resolved before the retention window (`PURCHASE_JOURNAL_KEEP_DAYS`); never open ones."""
    cutoff = now - settings.PURCHASE_JOURNAL_KEEP_DAYS * 86400
    return {aid for aid, attempt in attempts.items()
            if attempt.resolved and (attempt.fin_ts if attempt.fin_ts is not None else attempt.inicio) < cutoff}


def _bring_up_to(known: Attempt, fresh: Attempt) -> None:
    for producto_id, step in fresh.stock.items():
        mine = known.stock.get(producto_id)
        if mine is None:
            known.stock[producto_id] = step
        else:
            mine.estado = step.estado
    for name in ("usuario_id", "registro", "registro_ts", "borrador", "compra_id", "fin", "fin_ts", "pendiente"):
        setattr(known, name, getattr(fresh, name))


class Journal:
    """The journal of this process: appends events and keeps the folded attempts up to date."""

    def __init__(self, primary: FileLog | RedisLog, fallback: FileLog | None = None) -> None:
        self.logs: list[FileLog | RedisLog] = [primary, *([fallback] if fallback else [])]
        self._cursors: list[Any] = [None for _ in self.logs]
        self._pruned_at = 0.0
        self._attempts: dict[str, Attempt] = {}
        self._by_key: dict[str, str] = {}
        self._claimed: dict[int, str] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.logs[0].describe()

    # -- writing ------------------------------------------------------------------------------
    def _append(self, events: list[dict[str, Any]], sync: bool = True) -> None:
        line = "".join(json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
                       for event in events).encode()
        last_error: BaseException | None = None
        for log in self.logs:
            try:
                log.append(line, sync=sync)
                return
            except Exception as exc:  # noqa: BLE001 - any storage failure: try the next log, then report
                last_error = exc
                logger.critical("purchase journal %s failed (%s); trying the next", log.describe(),
                                type(exc).__name__)
        raise OSError(f"no journal could be written: {last_error!r}")

    def record(self, event: dict[str, Any], *, critical: bool = False) -> None:
        """Append one event. With `critical=False` a failure raises (the caller must not go on);
        with `critical=True` (stock already taken) it is logged at CRITICAL with the event itself,
        which then is the only record, and the flow goes on."""
        self.record_many([event], critical=critical)

    def record_many(self, events: list[dict[str, Any]], *, critical: bool = False, sync: bool = True) -> None:
        """Append several events at once: one write and one `fsync` (one RPUSH) for all of them,
        durable together when this returns. For events that may wait for the next step anyway.

        `sync=False`: written (a crash of this process does not lose them) but made durable against
        a power cut only by the next synced event or `sync()`; the caller must see to one of those
        before acting on them (answering)."""
        now = time.time()
        events = [{**event, "ts": event.get("ts", now)} for event in events]
        try:
            self._append(events, sync)
        except OSError:
            if not critical:
                raise
            for event in events:
                logger.critical("purchase journal unwritable; event: %s", json.dumps(event, ensure_ascii=False))
        with self._lock:
            for event in events:
                _fold(self._attempts, self._by_key, self._claimed, event)

    def begin(self, *, dni: str, usuario_id: int | None, items: Iterable[tuple[int, int]], clave: str | None,
              huella: str | None, stock: Iterable[StockStep], request_id: str) -> Attempt:
        aid = uuid.uuid4().hex
        now = time.time()
        self.record({"intento": aid, "evento": "inicio", "dni": dni, "usuario_id": usuario_id,
                     "productos": [[p, c] for p, c in items], "clave": clave, "huella": huella, "inicio": now,
                     "fecha": dt.datetime.fromtimestamp(now, tz=dt.UTC).isoformat(), "request_id": request_id,
                     "stock": [{"producto_id": s.producto_id, "cantidad": s.cantidad, "antes": s.antes,
                                "despues": s.despues} for s in stock]})
        return self._attempts[aid]

    def stock(self, attempt: Attempt, producto_id: int, estado: str) -> None:
        self.record(stock_event(attempt, producto_id, estado), critical=True)

    def registration(self, attempt: Attempt, estado: str, *, compra_id: int | None = None,
                     usuario_id: int | None = None, borrador: dict | None = None, sync: bool = True) -> None:
        self.record_many([registration_event(attempt, estado, compra_id=compra_id, usuario_id=usuario_id,
                                             borrador=borrador)], critical=True, sync=sync)

    def sync(self) -> None:
        """Make every event written so far durable (after appends with `sync=False`)."""
        for log in self.logs:
            try:
                log.sync()
            except Exception as exc:  # noqa: BLE001 - reported; the events were written, only not synced
                logger.critical("purchase journal %s could not be synced (%s)", log.describe(), type(exc).__name__)

    def needs_person(self, attempt: Attempt, motivo: str) -> None:
        self.record({"intento": attempt.id, "evento": "pendiente", "motivo": motivo}, critical=True)

    def finish(self, attempt: Attempt, estado: str, *, status: int | None = None, body: Any = None) -> None:
        self.record({"intento": attempt.id, "evento": "fin", "estado": estado, "status": status, "body": body},
                    critical=True)

    # -- reading ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fold the events other processes (or an earlier run) appended since the last look; forget
        (in memory) attempts resolved more than `PURCHASE_JOURNAL_KEEP_DAYS` ago."""
        with self._lock:
            compacted = False
            for index, log in enumerate(self.logs):
                try:
                    lines, self._cursors[index], reset = log.read_from(self._cursors[index])
                except Exception:  # noqa: BLE001 - an unreadable log is reported, the other still read
                    logger.exception("purchase journal %s unreadable", log.describe())
                    continue
                if reset:  # compacted since we last read it: `_rebuild` reads every log anew
                    compacted = True
                    continue
                _fold_lines(log, lines, self._attempts, self._by_key, self._claimed)
            if compacted:
                self._rebuild()
            now = time.time()
            if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
                self._prune(now)

    def _rebuild(self) -> None:
        """A log was compacted: fold every log anew and bring the attempts held in memory up to it
        (the same objects: a purchase under way keeps reading the attempt it holds)."""
        attempts, by_key, claimed = self._fold_from_start(cursors=self._cursors)
        for aid, fresh in attempts.items():
            known = self._attempts.get(aid)
            if known is not None:
                _bring_up_to(known, fresh)
                attempts[aid] = known
        for aid, known in self._attempts.items():
            if aid not in attempts and not known.resolved:  # never compacted away: keep what we know
                attempts[aid] = known
                if known.clave:
                    by_key.setdefault(known.clave, aid)
                if known.compra_id is not None:
                    claimed.setdefault(known.compra_id, aid)
        self._attempts, self._by_key, self._claimed = attempts, by_key, claimed

    def _fold_from_start(self, *, cursors: list[Any] | None = None
                         ) -> tuple[dict[str, Attempt], dict[str, str], dict[int, str]]:
        """Every log read and folded from its start into new maps (attempts, by key, claimed). With
        `cursors` (the journal's own), they are moved to the end of what was read; without, a log
        that cannot be read is an error (`compact` must not judge from part of the journal)."""
        attempts: dict[str, Attempt] = {}
        by_key: dict[str, str] = {}
        claimed: dict[int, str] = {}
        for index, log in enumerate(self.logs):
            try:
                lines, cursor, _reset = log.read_from(None)
            except Exception:  # noqa: BLE001 - as in refresh
                if cursors is None:
                    raise
                logger.exception("purchase journal %s unreadable", log.describe())
                continue
            if cursors is not None:
                cursors[index] = cursor
            _fold_lines(log, lines, attempts, by_key, claimed)
        return attempts, by_key, claimed

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        expired = _expired(self._attempts, now)
        for aid in expired:
            attempt = self._attempts.pop(aid)
            if attempt.clave and self._by_key.get(attempt.clave) == aid:
                del self._by_key[attempt.clave]
            if attempt.compra_id is not None and self._claimed.get(attempt.compra_id) == aid:
                del self._claimed[attempt.compra_id]

    def compact(self, *, now: float | None = None) -> dict[str, int]:
        """Drop from every log the events of attempts resolved more than `PURCHASE_JOURNAL_KEEP_DAYS`
        ago; open attempts and recent ones stay whole. Safe while other processes append and read."""
        now = time.time() if now is None else now
        attempts, _by_key, _claimed = self._fold_from_start()
        expired = _expired(attempts, now)

        def keep(line: bytes) -> bool:
            try:
                event = json.loads(line)
            except ValueError:
                return True  # not ours to judge: a damaged line stays for a person to read
            return not (isinstance(event, dict) and event.get("intento") in expired)

        kept = dropped = 0
        for log in self.logs:
            log_kept, log_dropped = log.compact(keep)
            kept, dropped = kept + log_kept, dropped + log_dropped
        self.refresh()
        return {"intentos_eliminados": len(expired), "eventos_conservados": kept, "eventos_eliminados": dropped}

    def find_by_key(self, clave: str) -> Attempt | None:
        self.refresh()
        attempt = self._attempts.get(self._by_key.get(clave, ""))
        if attempt is not None and attempt.resolved and attempt.fin["estado"] == UNCHANGED:
            return None  # it never wrote a unit: the key is free for a new attempt
        return attempt

    def get(self, aid: str, *, refresh: bool = True) -> Attempt | None:
        """The attempt as folded; `refresh=False` skips reading what other processes appended (for
        an attempt this process is running: nobody else writes to it meanwhile)."""
        if refresh:
            self.refresh()
        return self._attempts.get(aid)

    def claimed_by(self, compra_id: int) -> str | None:
        return self._claimed.get(compra_id)

    def open_attempts(self) -> list[Attempt]:
        self.refresh()
        return sorted((a for a in self._attempts.values() if not a.resolved), key=lambda a: a.inicio)

    def all_attempts(self) -> list[Attempt]:
        self.refresh()
        return sorted(self._attempts.values(), key=lambda a: a.inicio)


_journals: dict[tuple, Journal] = {}
_journals_lock = threading.Lock()


def journal() -> Journal:
    """The process's journal for the current settings (tests change them; one instance per setting)."""
    redis = uses_redis()
    config = (redis, str(settings.PURCHASE_JOURNAL), settings.CACHES["default"].get("LOCATION"))
    with _journals_lock:
        found = _journals.get(config)
        if found is None:
            file_log = FileLog(settings.PURCHASE_JOURNAL)
            found = Journal(RedisLog(REDIS_KEY), fallback=file_log) if redis else Journal(file_log)
            _journals[config] = found
        return found
