"""Product locks over a real Redis: "still ours? then delete / extend" is one atomic step."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from dashboard.cache import RedisCache
from dashboard.services.purchase_saga.locks import ProductLocks, lock_key
from tests.integration.test_multiworker import redis_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_cache(settings, redis_url):  # noqa: F811
    settings.CACHES = {"default": {"BACKEND": "dashboard.cache.RedisCache", "LOCATION": redis_url}}
    cache.clear()
    yield cache
    cache.clear()


def raw(key: str):
    return cache._cache.get_client(write=True), cache.make_and_validate_key(key)  # noqa: SLF001


def test_release_deletes_our_locks_and_leaves_one_another_purchase_took_after_ours_expired(redis_cache, monkeypatch):
    locks = ProductLocks([1, 2, 3])
    locks.acquire()
    cache.set(lock_key(2), 777, 30)  # ours expired, then another purchase took it
    monkeypatch.setattr(RedisCache, "get_many", lambda *_a, **_k: pytest.fail("two steps: look, then delete"))
    locks.release()
    assert cache.get(lock_key(1)) is None and cache.get(lock_key(3)) is None
    assert cache.get(lock_key(2)) == 777


def test_extend_renews_only_locks_still_ours(redis_cache, settings):
    settings.STOCK_LOCK_TIMEOUT = 5
    locks = ProductLocks([1, 2])
    locks.acquire()
    cache.set(lock_key(2), 777, 3)  # someone else's now, with its own TTL
    settings.STOCK_LOCK_TIMEOUT = 100
    locks.extend()
    client, first = raw(lock_key(1))
    _client, second = raw(lock_key(2))
    assert 90 < client.ttl(first) <= 100
    assert client.ttl(second) <= 3
    locks.release()


def test_a_second_purchase_waits_for_the_first_and_gets_the_lock_once_released(redis_cache, settings):
    settings.STOCK_LOCK_WAIT = 0.05
    first = ProductLocks([5])
    first.acquire()
    with pytest.raises(Exception) as exc:
        ProductLocks([5]).acquire()
    assert exc.value.details["productos"] == [5]
    first.release()
    second = ProductLocks([5])
    second.acquire()
    assert cache.get(lock_key(5)) == second.token
    second.release()
