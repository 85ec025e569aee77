"""The purchase journal as a Redis list: compaction keeps what was pushed meanwhile, readers start over."""
from __future__ import annotations

import json
import time

import pytest
from django.core.cache import cache

from dashboard.appendlog import RedisLog
from dashboard.services.purchase_saga.journal import REDIS_KEY, Journal
from tests.integration.test_multiworker import redis_url  # noqa: F401  (fixture)
from tests.services.test_journal_retention import DAY, attempt_events, line

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_journal(settings, redis_url):  # noqa: F811
    settings.CACHES = {"default": {"BACKEND": "dashboard.cache.RedisCache", "LOCATION": redis_url}}
    settings.PURCHASE_JOURNAL_KEEP_DAYS = 7
    cache.clear()
    log = RedisLog(REDIS_KEY)
    log.client().delete(log.key, log.generation_key)
    now = time.time()
    for event in (attempt_events("viejo", started=now - 10 * DAY, resolved=now - 10 * DAY, clave="k1", compra_id=1)
                  + attempt_events("abierto", started=now - 10 * DAY, resolved=None, clave="k2")):
        log.append(line(event))
    yield log
    log.client().delete(log.key, log.generation_key)


def test_compaction_keeps_lines_pushed_while_it_ran(redis_journal, monkeypatch):
    original = RedisLog._read
    pushed = []

    def read_then_someone_pushes(self, start):
        result = original(self, start)
        if not pushed:
            pushed.append(True)
            self.append(line({"intento": "abierto", "evento": "pendiente", "motivo": "x"}))
        return result

    monkeypatch.setattr(RedisLog, "_read", read_then_someone_pushes)
    kept, dropped = redis_journal.compact(lambda raw: json.loads(raw)["intento"] != "viejo")
    assert (kept, dropped) == (2, 4)
    events = [json.loads(x) for x in redis_journal.client().lrange(redis_journal.key, 0, -1)]
    assert [(e["intento"], e["evento"]) for e in events] == [("abierto", "inicio"), ("abierto", "stock"),
                                                             ("abierto", "pendiente")]


def test_a_reader_of_the_list_before_compaction_reads_it_anew(redis_journal):
    ours, compactor = Journal(RedisLog(REDIS_KEY)), Journal(RedisLog(REDIS_KEY))
    held = ours.get("abierto")
    assert compactor.compact()["intentos_eliminados"] == 1
    RedisLog(REDIS_KEY).append(line({"intento": "abierto", "evento": "fin", "estado": "devuelta", "status": 502,
                                     "body": {}, "ts": time.time()}))
    assert ours.get("abierto") is held and held.resolved
    assert [json.loads(x)["intento"] for x in redis_journal.client().lrange(redis_journal.key, 0, -1)].count(
        "viejo") == 0
