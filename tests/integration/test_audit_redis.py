"""With a Redis cache, every process shares one decision history (a Redis list), not a local file."""
from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import audit
from dashboard.appendlog import RedisLog
from tests.integration.test_multiworker import redis_url  # noqa: F401  (fixture)
from tests.payloads import prescription_payload, user_payload

pytestmark = pytest.mark.integration


def test_audit_with_redis_cache_appends_to_a_shared_list(settings, redis_url):  # noqa: F811
    from dashboard.types import Prescription, User

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    caller = User.from_wire(user_payload("40123456", role="ADMIN"))
    receta = Prescription.from_wire(prescription_payload("68f7c2e4a1b2c3d4e5f60718"))
    audit.recorded(lambda: None, caller=caller, receta=receta, estado="RECHAZADA", motivo="ilegible")
    audit.recorded(lambda: None, caller=caller, receta=receta, estado="PENDIENTE")
    assert [d["estado"] for d in audit.decisions()] == ["pendiente", "rechazada"]
    assert not Path(settings.DECISION_AUDIT_LOG).exists()
    store = audit._store()
    assert isinstance(store, RedisLog) and store.client().llen(store.key) == 2


def test_audit_with_redis_down_falls_back_to_the_file_and_reads_it_back(settings, redis_url):  # noqa: F811
    from dashboard.types import Prescription, User

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    caller = User.from_wire(user_payload("40123456", role="ADMIN"))
    receta = Prescription.from_wire(prescription_payload("68f7c2e4a1b2c3d4e5f60718"))
    audit.recorded(lambda: None, caller=caller, receta=receta, estado="RECHAZADA")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens there
    audit.recorded(lambda: None, caller=caller, receta=receta, estado="PENDIENTE")
    assert Path(settings.DECISION_AUDIT_LOG).exists()
    with pytest.raises(audit.HistoryUnavailable):
        audit.decisions()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    assert [d["estado"] for d in audit.decisions()] == ["pendiente", "rechazada"]
